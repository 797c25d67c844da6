"""Contract tests every registered search space passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zeronas.errors import ArchitectureError
from zeronas.hardware import count_flops
from zeronas.spaces import ArchGraph, get_space, list_spaces


@pytest.fixture(params=list_spaces())
def space(request):
    return get_space(request.param)


def test_sample_is_seeded(space):
    a = [space.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(0)
    assert len({space.sample(rng) for _ in range(20)}) > 1


def test_values_are_hashable_and_round_trip(space):
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = space.sample(rng)
        text = space.to_str(arch)
        assert space.from_str(text) == arch and hash(space.from_str(text)) == hash(arch)
        assert space.parse(text) == arch


def test_mutate_and_neighbours(space):
    rng = np.random.default_rng(2)
    for _ in range(5):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert child != arch
        nbrs = space.neighbours(arch)
        assert child in nbrs and arch not in nbrs


def test_graph_is_a_dag(space):
    g = space.to_graph(space.sample(np.random.default_rng(3)))
    assert isinstance(g, ArchGraph) and g.edges
    assert "input" in g.ops[0] and "output" in g.ops[-1]
    assert all(s < t for s, t in g.edges)


def test_network_builds_on_meta_for_every_dataset(space):
    arch = space.sample(np.random.default_rng(4))
    for name, info in space.datasets.items():
        with torch.device("meta"):
            net = space.network_for(arch, name)
        out = net(torch.empty((2, *info.input_shape), device="meta"))
        assert tuple(out.shape) == (2, *info.out_shape)
        assert count_flops(net, info.input_shape) > 0


def test_garbage_strings_are_architecture_errors(space):
    for text in ["", "???", "|", "[]", "{}", "1:2", "Genotype("]:
        try:
            space.from_str(text)
        except ArchitectureError:
            continue


def test_finite_index(space):
    if not space.finite:
        with pytest.raises(TypeError):
            len(space)
        return
    n = len(space)
    for i in [0, 1, n // 2, n - 1]:
        assert space.index(space[i]) == i
        assert space.parse(str(i)) == space[i]
    with pytest.raises(ArchitectureError):
        space[n]
