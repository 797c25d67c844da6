"""NATS-Bench size space: strings, index order, mutations, graphs and the network itself."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeronas.errors import ArchitectureError
from zeronas.hardware import count_flops, count_params
from zeronas.spaces.nats_sss import (
    CANDIDATES,
    GENOTYPE,
    NUM_LAYERS,
    NATSSizeArch,
    NATSSizeSpace,
    arch_from_str,
    arch_to_str,
)
from zeronas.spaces.nb201 import NB201Space


@pytest.fixture(scope="module")
def sss() -> NATSSizeSpace:
    return NATSSizeSpace()


def test_all_strings_round_trip_and_index(sss):
    assert len(sss) == 32768 and sss.finite
    strings = set()
    for i, arch in enumerate(sss):
        s = sss.to_str(arch)
        assert sss.from_str(s) == arch
        assert sss.index(arch) == i
        strings.add(s)
    assert len(strings) == 32768


def test_order_is_the_benchmarks_product_order(sss):
    # AutoDL-Projects exps/NATS-Bench/main-sss.py traverse_net: first layer varies slowest
    expected = [":".join(map(str, p)) for p in itertools.product(CANDIDATES, repeat=5)]
    assert [sss.to_str(sss[i]) for i in range(0, 32768, 97)] == expected[::97]


@pytest.mark.parametrize(
    "index, text",
    [
        # NATS-Bench fake_torch_dir/NATS-sss-v1_0-50262-simple (meta_archs) and
        # notebooks/issue-21.ipynb (api.get_net_config(12, 'cifar10'))
        (0, "8:8:8:8:8"),
        (1, "8:8:8:8:16"),
        (11, "8:8:8:16:32"),
        (12, "8:8:8:16:40"),
        (284, "8:8:40:32:40"),
        (32767, "64:64:64:64:64"),
    ],
)
def test_known_indices(sss, index, text):
    assert sss.to_str(sss[index]) == text
    assert sss.index(sss.from_str(text)) == index
    assert sss.parse(str(index)) == sss.from_str(text)


@pytest.mark.parametrize("bad", [-1, 32768, 10**9, 1.0, "3", True])
def test_bad_indices(sss, bad):
    with pytest.raises(ArchitectureError):
        sss[bad]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("8:16:32:64", "expected 5 channel numbers"),
        ("8:16:32:64:64:64", "expected 5 channel numbers"),
        ("", "expected 5 channel numbers"),
        ("8,16,32,64,64", "expected 5 channel numbers"),
        ("8:16:32:64:12", "channel 12 of layer 5 is not one of 8, 16"),
        ("8:16:0:64:64", "layer 3 '0' is not a plain positive integer"),
        ("8:16:32:64:72", "channel 72 of layer 5"),
        ("8:x:32:64:64", "layer 2 'x' is not a plain"),
        ("8:16.0:32:64:64", "layer 2 '16.0'"),
        ("8: 16:32:64:64", "layer 2 ' 16'"),
        ("8:016:32:64:64", "layer 2 '016'"),
        ("8:+16:32:64:64", "layer 2 '\\+16'"),
        ("8:-16:32:64:64", "layer 2 '-16'"),
        ("8::32:64:64", "layer 2 ''"),
        ("8:1" + "0" * 5000 + ":32:64:64", "layer 2"),
    ],
)
def test_malformed_strings(text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        arch_from_str(text)


def test_non_string_input():
    with pytest.raises(ArchitectureError, match="must be a str"):
        arch_from_str(81632)  # type: ignore[arg-type]


arch_strategy = st.lists(st.sampled_from(CANDIDATES), min_size=5, max_size=5).map(
    lambda cs: NATSSizeArch(tuple(cs))
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


@given(st.text(max_size=40) | st.text(alphabet="0123456789: ", max_size=20))
def test_property_random_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        arch_from_str(text)


def test_arch_value_validation():
    with pytest.raises(ArchitectureError, match="tuple of 5"):
        NATSSizeArch((8, 8, 8, 8))
    with pytest.raises(ArchitectureError, match="tuple of 5"):
        NATSSizeArch([8, 8, 8, 8, 8])  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="channel 12 of layer 2"):
        NATSSizeArch((8, 12, 8, 8, 8))
    with pytest.raises(ArchitectureError, match="layer 1"):
        NATSSizeArch((True, 8, 8, 8, 8))  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError):
        NATSSizeArch((8.0, 8, 8, 8, 8))  # type: ignore[arg-type]
    a = NATSSizeArch((np.int64(8), 16, 24, 32, 40))  # numpy ints are stored as ints
    assert a == NATSSizeArch((8, 16, 24, 32, 40)) and hash(a) == hash(
        NATSSizeArch((8, 16, 24, 32, 40))
    )
    assert all(type(c) is int for c in a.channels)
    assert str(a) == "8:16:24:32:40"
    with pytest.raises(AttributeError):
        a.channels = (8,) * 5  # type: ignore[misc]


def test_space_rejects_foreign_values(sss):
    with pytest.raises(ArchitectureError, match="expected a NATSSizeArch"):
        sss.index("8:8:8:8:8")  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="expected a NATSSizeArch"):
        sss.to_torch(NB201Space()[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected options"):
        sss.to_torch(sss[0], C=16)


def test_sample_mutate_neighbours_deterministic(sss):
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    a = [sss.sample(rng1) for _ in range(30)]
    assert a == [sss.sample(rng2) for _ in range(30)]
    rng = np.random.default_rng(0)
    for arch in a:
        m = sss.mutate(arch, rng)
        assert sum(x != y for x, y in zip(arch.channels, m.channels, strict=True)) == 1
        nbrs = sss.neighbours(arch)
        assert len(nbrs) == NUM_LAYERS * (len(CANDIDATES) - 1) == len(set(nbrs))
        assert m in nbrs and arch not in nbrs
        assert all(sum(x != y for x, y in zip(arch.channels, n.channels, strict=True)) == 1
                   for n in nbrs)


@given(st.integers(0, 32767), st.integers(0, 2**32 - 1))
def test_property_mutate_is_a_neighbour(index, seed):
    sss = NATSSizeSpace()
    arch = sss[index]
    m = sss.mutate(arch, np.random.default_rng(seed))
    assert m != arch and m in sss.neighbours(arch)
    assert 0 <= sss.index(m) < len(sss)


def test_sample_is_roughly_uniform(sss):
    rng = np.random.default_rng(0)
    counts = dict.fromkeys(CANDIDATES, 0)
    for _ in range(1600):
        for c in sss.sample(rng).channels:
            counts[c] += 1
    assert all(850 < n < 1150 for n in counts.values())  # 8000 draws / 8 = 1000 expected


def test_graph(sss):
    g = sss.to_graph(sss.from_str("8:16:32:48:64"))
    assert g.ops == (
        "input", "conv_3x3_c8", "cell_c8", "resblock_c16", "cell_c32", "resblock_c48",
        "cell_c64", "output",
    )
    assert g.edges == tuple((i, i + 1) for i in range(7))
    assert g.groups is not None and g.groups[1] == "stem" and g.groups[-2] == "stage3"
    assert g.adjacency().sum() == 7


@pytest.mark.parametrize(
    "text, dataset, mflops, mparams",
    [
        # get_cost_info numbers stored in NATS-Bench's fake_torch_dir (archs 0, 11, 284) and
        # printed in its notebooks create-query-sss / issue-21 (arch 12)
        ("8:8:8:8:8", "cifar10", 4.481114, 0.011714),
        ("8:8:8:8:8", "cifar100", 4.481924, 0.012524),
        ("8:8:8:8:8", "ImageNet16-120", 1.121336, 0.012704),
        ("8:8:8:16:32", "cifar10", 6.84065, 0.049202),
        ("8:8:8:16:32", "cifar100", 6.84362, 0.052172),
        ("8:8:8:16:32", "ImageNet16-120", 1.71404, 0.052832),
        ("8:8:8:16:40", "cifar10", 7.991706, 0.067378),
        ("8:8:40:32:40", "cifar10", 21.827994, 0.144834),
        ("8:8:40:32:40", "cifar100", 21.831684, 0.148524),
        ("8:8:40:32:40", "ImageNet16-120", 5.461816, 0.149344),
        # params of the largest network as reported by third-party code reading the benchmark
        ("64:64:64:64:64", "cifar10", 274.399882, 0.713674),
    ],
)
def test_benchmark_flops_and_params(sss, text, dataset, mflops, mparams):
    with torch.device("meta"):
        net = sss.network_for(sss.from_str(text), dataset)
    assert count_flops(net, sss.dataset(dataset).input_shape) / 1e6 == pytest.approx(
        mflops, abs=1e-6
    )
    assert count_params(net) / 1e6 == pytest.approx(mparams, abs=1e-6)


def test_matches_nb201_network_with_one_cell_per_stage(sss):
    # 16:32:32:64:64 is the NB201 skeleton with C=16, N=1 and the size space's fixed cell
    nb201 = NB201Space(C=16, N=1)
    with torch.device("meta"):
        a = sss.to_torch(sss.from_str("16:32:32:64:64"))
        b = nb201.to_torch(nb201.from_str(GENOTYPE))
    assert count_params(a) == count_params(b)
    assert count_flops(a, (3, 32, 32)) == count_flops(b, (3, 32, 32))
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def test_largest_is_not_nb201_c64(sss):
    with torch.device("meta"):
        largest = sss.to_torch(sss[32767])
    assert largest.classifier.in_features == 64  # every layer 64 wide, no doubling
    assert count_params(largest) == 713674


@pytest.mark.parametrize("text", ["8:16:32:48:64", "64:8:56:16:40"])
def test_network_forward(sss, text):
    torch.manual_seed(0)
    net = sss.to_torch(sss.from_str(text), num_classes=7)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out16 = sss.network_for(sss.from_str(text), "ImageNet16-120")(torch.randn(2, 3, 16, 16))
    assert out16.shape == (2, 120)


def test_cell_with_width_change_uses_projection_skip(sss):
    net = sss.to_torch(sss.from_str("8:16:32:48:64"))
    cell = net.cells[2]  # 16 -> 32
    skip = cell.edges[3]  # skip_connect~0 of node 3
    convs = [m for m in skip.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (1, 1) and convs[0].bias is None
    assert not any(isinstance(m, torch.nn.ReLU) for m in skip.modules())
    same = net.cells[0].edges[3]  # 8 -> 8: identity
    assert isinstance(same, torch.nn.Identity)
