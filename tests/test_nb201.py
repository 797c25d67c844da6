"""NAS-Bench-201 space: strings, index order, mutations, graphs and the network itself."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeronas.errors import ArchitectureError
from zeronas.hardware import count_flops, count_params
from zeronas.spaces import NB201Arch, get_space, list_spaces
from zeronas.spaces.nb201 import EDGES, OPS, arch_from_str, arch_to_str

INDEX0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
    "skip_connect~2|"
)


def test_registry_lists_nb201():
    assert "nb201" in list_spaces()
    assert list_spaces("nb2*") == ["nb201"]


def test_all_strings_round_trip_and_index(nb201):
    assert len(nb201) == 15625
    strings = set()
    for i, arch in enumerate(nb201):
        s = nb201.to_str(arch)
        assert nb201.from_str(s) == arch
        assert nb201.index(arch) == i
        strings.add(s)
    assert len(strings) == 15625


def test_index_zero_and_known_indices(nb201):
    assert nb201.to_str(nb201[0]) == INDEX0
    assert nb201.to_str(nb201[13714]) == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|"
        "nor_conv_3x3~2|"
    )


@pytest.mark.parametrize("bad", [-1, 15625, 10**9])
def test_index_out_of_range(nb201, bad):
    with pytest.raises(ArchitectureError, match="out of range"):
        nb201[bad]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must look like"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", "expected 3 nodes"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "2 input edge"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from input 0"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv'"),
        ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", "op~input"),
        ("", "expected 3 nodes"),
    ],
)
def test_malformed_strings(text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        arch_from_str(text)


arch_strategy = st.lists(st.sampled_from(OPS), min_size=6, max_size=6).map(
    lambda ops: NB201Arch(tuple(ops))
)


@given(arch_strategy)
def test_property_round_trip(arch):
    assert arch_from_str(arch_to_str(arch)) == arch
    assert arch_from_str("  " + arch_to_str(arch) + "\n") == arch


@settings(max_examples=300)
@given(arch_strategy, st.integers(0, 200), st.text(min_size=0, max_size=3))
def test_property_corrupted_strings_error_or_round_trip(arch, pos, junk):
    s = arch_to_str(arch)
    pos = pos % (len(s) + 1)
    corrupted = s[:pos] + junk + s[pos + 1 :]
    try:
        parsed = arch_from_str(corrupted)
    except ArchitectureError as exc:
        assert str(exc)
    else:  # anything accepted must be exactly a canonical string
        assert arch_to_str(parsed) == corrupted.strip()


@given(st.text(max_size=80))
def test_property_random_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        arch_from_str(text)


def test_arch_value_validation():
    with pytest.raises(ArchitectureError):
        NB201Arch(("none",) * 5)
    with pytest.raises(ArchitectureError, match="unknown NB201 op"):
        NB201Arch(("none",) * 5 + ("conv",))
    a = NB201Arch(("none",) * 6)
    assert hash(a) == hash(NB201Arch(("none",) * 6))
    with pytest.raises(AttributeError):
        a.ops = ("skip_connect",) * 6  # type: ignore[misc]


def test_sample_mutate_neighbours_deterministic(nb201):
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    a = [nb201.sample(rng1) for _ in range(20)]
    b = [nb201.sample(rng2) for _ in range(20)]
    assert a == b
    rng = np.random.default_rng(0)
    for arch in a:
        m = nb201.mutate(arch, rng)
        assert sum(x != y for x, y in zip(arch.ops, m.ops, strict=True)) == 1
        nbrs = nb201.neighbours(arch)
        assert len(nbrs) == len(EDGES) * (len(OPS) - 1) == len(set(nbrs))
        assert m in nbrs and arch not in nbrs


def test_sample_is_roughly_uniform(nb201):
    rng = np.random.default_rng(0)
    counts = {op: 0 for op in OPS}
    for _ in range(2000):
        for op in nb201.sample(rng).ops:
            counts[op] += 1
    assert all(2000 < c < 2800 for c in counts.values())  # 12000 draws / 5 = 2400 expected


def test_graph(nb201):
    g = nb201.to_graph(nb201[13714])
    assert g.ops[0] == "input" and g.ops[-1] == "output"
    assert list(g.ops[1:-1]) == list(nb201[13714].ops)
    assert all(s < t for s, t in g.edges)
    # op 0->1 feeds the three ops leaving node 1; output takes the three ops into node 3
    assert (1, 3) in g.edges and (1, 5) in g.edges and (1, 2) not in g.edges
    assert {s for s, t in g.edges if t == 7} == {4, 5, 6}
    assert g.adjacency().sum() == len(g.edges)


@pytest.mark.parametrize(
    "index, dataset, mflops, mparams",
    [
        (13714, "cifar10", 153.27, 1.073),
        (13714, "ImageNet16-120", 38.33, 1.081),
        (3558, "cifar10", 121.82, 0.858),
    ],
)
def test_benchmark_flops_and_params(nb201, index, dataset, mflops, mparams):
    with torch.device("meta"):
        net = nb201.network_for(nb201[index], dataset)
    assert count_flops(net, nb201.dataset(dataset).input_shape) / 1e6 == pytest.approx(
        mflops, abs=0.01
    )
    assert count_params(net) / 1e6 == pytest.approx(mparams, abs=0.001)


def test_network_forward_shapes(nb201):
    torch.manual_seed(0)
    net = nb201.to_torch(nb201.from_str(INDEX0), num_classes=7, C=8, N=1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    none = nb201.to_torch(NB201Arch(("none",) * 6), C=8, N=1)
    assert torch.isfinite(none(torch.randn(2, 3, 16, 16))).all()


def test_canonical_identity(nb201):
    # a cell whose only path to the output is a skip equals the all-skip-to-output cell
    a = nb201.from_str("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = nb201.from_str("|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|")
    c = nb201.from_str("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert nb201.canonical(a) == nb201.canonical(b) == "x"
    assert nb201.canonical(c) == "0"
    assert nb201.canonical(nb201[13714]) != nb201.canonical(nb201[3558])
    assert len({nb201.canonical(x) for x in nb201}) < len(nb201)


def test_bad_options():
    with pytest.raises(ArchitectureError):
        get_space("nb201", C=3)
    with pytest.raises(ValueError, match="unknown space"):
        get_space("nb2O1")
