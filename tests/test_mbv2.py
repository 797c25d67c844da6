"""Zen-NAS/ZiCo MobileNetV2-like space: strings, mutations, graphs, networks and fast FLOPs."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeronas.errors import ArchitectureError, ZeronasError
from zeronas.hardware import count_flops, count_params
from zeronas.spaces.mbv2 import (
    DEFAULT_STAGES,
    STAGE_FIELDS,
    IDWUnit,
    MBStage,
    MBV2Arch,
    MBV2Space,
    StageSpec,
    parse_arch,
)

# ZiCo's published searched networks (SLDGroup/ZiCo, ZiCo/*.txt), in this space's syntax.
# SuperResIDWE{e}K{k}(in, w, stride, b, d) -> k{k}e{e}w{w}b{b}d{d}
ZICO_600M = "s24-k7e1w48b48d1-k7e2w72b72d1-k5e6w160b96d1-k7e6w200b112d5-k7e6w168b168d4"
ZICO_1G = "s48-k7e1w48b72d1-k7e1w80b128d1-k7e2w160b144d3-k7e4w288b232d4-k5e6w232b208d5"
ZICO_450M = "s16-k7e1w40b40d1-k7e2w80b64d1-k7e4w96b96d5-k7e2w224b224d5"  # 4 stages
ZENNET_900M = "s16-k7e1w48b72d1-k7e2w72b64d3-k7e2w152b144d3-k7e2w360b352d4-k7e4w288b264d3"
SMALL = "s16-k3e1w16b16d1-k3e1w32b32d1-k3e1w64b64d1-k3e1w96b96d1-k3e1w96b96d1"


@pytest.fixture(scope="module")
def mbv2() -> MBV2Space:
    return MBV2Space()


def meta_net(space: MBV2Space, arch: MBV2Arch, **kw) -> torch.nn.Module:
    with torch.device("meta"):
        return space.to_torch(arch, **kw)


# --------------------------------------------------------------------------- published nets
@pytest.mark.parametrize(
    "text, budget, mflops, mparams",
    [(ZICO_600M, 600, 591.285368, 9.703144), (ZICO_1G, 1000, 987.480944, 15.314624),
     (ZENNET_900M, 1000, 910.361216, 13.300208)],
)
def test_published_networks_are_in_the_space_and_under_budget(mbv2, text, budget, mflops, mparams):
    arch = mbv2.from_str(text)
    assert mbv2.to_str(arch) == text
    assert mbv2.flops(arch) / 1e6 == pytest.approx(mflops, abs=1e-6) and mflops < budget
    net = meta_net(mbv2, arch)
    assert count_flops(net, (3, 224, 224)) == mbv2.flops(arch)
    assert count_params(net) / 1e6 == pytest.approx(mparams, abs=1e-6)


def test_four_stage_space_holds_zico_450m():
    # ZiCo-450M has 4 stride-2 stages, the third 5 sub-layers deep
    stage3 = dataclasses.replace(DEFAULT_STAGES[2], depths=(1, 2, 3, 4, 5))
    space = MBV2Space(stages=(*DEFAULT_STAGES[:2], stage3, DEFAULT_STAGES[3]))
    arch = space.from_str(ZICO_450M)
    assert space.flops(arch) / 1e6 == pytest.approx(438.641352, abs=1e-6)  # under 450M
    assert count_flops(meta_net(space, arch), (3, 224, 224)) == space.flops(arch)
    with pytest.raises(ArchitectureError, match="expected the stem 's<width>' and 5 stages"):
        MBV2Space().from_str(ZICO_450M)


def test_block_structure_follows_zen_nas(mbv2):
    net = mbv2.to_torch(mbv2.from_str(ZICO_600M))
    stage4 = net.stages[3]
    assert len(stage4) == 2 * 5  # 5 sub-layers of two units
    first, second, third = stage4[0], stage4[1], stage4[2]
    # unit 1: 168 -> b=112 via hidden 6*112, stride 2, projection shortcut (conv with bias)
    assert first.body[0].in_channels == 160 and first.body[0].out_channels == 6 * 112
    assert first.body[3].stride == (2, 2) and first.body[3].groups == 6 * 112
    assert first.body[3].kernel_size == (7, 7)
    assert first.shortcut is not None and first.shortcut[0].bias is not None
    # unit 2: b=112 -> w=200 via hidden 6*200; unit 3: 200 -> 112 (projection, width change)
    assert second.body[0].out_channels == 6 * 200 and second.body[-2].out_channels == 200
    assert third.shortcut is not None and third.body[3].stride == (1, 1)
    # the last stage's first unit always projects, even at stride 1 with equal widths
    stage5 = net.stages[4]
    assert stage5[0].body[3].stride == (1, 1) and stage5[0].shortcut is not None
    assert stage5[1].shortcut is None  # 168 -> 168 identity
    assert net.head[0].out_channels == 2048 and net.classifier.out_features == 1000
    assert all(m.eps == 1e-3 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(isinstance(m, torch.nn.ReLU6) for m in net.modules())


# --------------------------------------------------------------------------- fast FLOPs
def test_meta_flops_equals_analytic(mbv2):
    # timings (meta count ~0.1 s, analytic ~microseconds per network) live in `make bench`
    rng = np.random.default_rng(0)
    archs = [mbv2.sample(rng) for _ in range(9)]
    archs.append(mbv2.from_str(ZICO_1G))
    for arch in archs:
        assert count_flops(meta_net(mbv2, arch), (3, 224, 224)) == mbv2.flops(arch)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(3, 224, 224), (3, 64, 64), (3, 97, 81)]),
       st.booleans(), st.sampled_from([10, 1000]))
def test_property_analytic_flops_equals_meta_count(seed, shape, se, classes):
    space = MBV2Space()
    arch = space.sample(np.random.default_rng(seed))
    net = meta_net(space, arch, num_classes=classes, se=se)
    assert count_flops(net, shape) == space.flops(arch, shape, num_classes=classes, se=se)


def test_sampled_flops_span_the_budgets(mbv2):
    rng = np.random.default_rng(2024)
    mflops = np.array([mbv2.flops(mbv2.sample(rng)) for _ in range(200)]) / 1e6
    assert mflops.min() < 450 and mflops.max() > 1000
    under_450 = (mflops <= 450).mean()
    under_600 = (mflops <= 600).mean()
    under_1g = (mflops <= 1000).mean()
    # each budget keeps a real but different share of the space
    assert 0.03 < under_450 < 0.3 and 0.15 < under_600 < 0.5 and 0.6 < under_1g < 0.95
    assert under_450 < under_600 < under_1g


@pytest.mark.parametrize("shape", [(3, 224), (1, 224, 224), (3, 0, 224), (3, 224.0, 224)])
def test_flops_rejects_bad_shapes(mbv2, shape):
    with pytest.raises(ZeronasError, match="input_shape"):
        mbv2.flops(mbv2.from_str(SMALL), shape)


# --------------------------------------------------------------------------- networks
def test_network_forward_small_input(mbv2):
    torch.manual_seed(0)
    net = mbv2.to_torch(mbv2.from_str(SMALL), num_classes=10)
    out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_network_forward_with_se_and_deeper_stage():
    torch.manual_seed(0)
    space = MBV2Space(
        stems=(8,),
        stages=(StageSpec(2, (16,), (8,), (2,)), StageSpec(1, (16,), (16,), (1,))),
        head_width=32,
    )
    arch = space.from_str("s8-k5e2w16b8d2-k3e4w16b16d1")
    net = space.to_torch(arch, num_classes=5, se=True)
    assert sum(isinstance(m, IDWUnit) for m in net.modules()) == 6
    out = net(torch.randn(3, 3, 33, 31))
    assert out.shape == (3, 5) and torch.isfinite(out).all()
    assert count_flops(net, (3, 33, 31)) == space.flops(arch, (3, 33, 31), 5, se=True)
    with pytest.raises(TypeError, match="unexpected options"):
        space.to_torch(arch, width=2)


# --------------------------------------------------------------------------- strings
@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "expected the stem"),
        ("s24", "expected the stem"),
        (ZICO_600M + "-k3e1w96b96d1", "5 stages"),
        (ZICO_600M.replace("s24", "x24"), "stem 'x24' must look like 's24'"),
        (ZICO_600M.replace("s24", "s25"), "stem width 25 is not one of 16, 24"),
        (ZICO_600M.replace("k5e6", "k4e6"), "stage 3 kernel 4 must be odd"),
        (ZICO_600M.replace("k5e6", "k9e6"), "stage 3 kernel 9 is not one of 3, 5, 7"),
        (ZICO_600M.replace("k5e6", "k5e3"), "stage 3 expansion 3 is not one of 1, 2, 4, 6"),
        (ZICO_600M.replace("w160", "w161"), "stage 3 width 161 is not one of"),
        (ZICO_600M.replace("b96d1", "b200d1"), "stage 3 bottleneck 200"),
        (ZICO_600M.replace("b96d1", "b96d4"), "stage 3 depth 4 is not one of 1, 2, 3"),
        (ZICO_600M.replace("b96d1", "b96d0"), "stage 3 'k5e6w160b96d0' must look like"),
        (ZICO_600M.replace("e6w160", "e6w0160"), "must look like"),
        (ZICO_600M.replace("k5e6w160b96d1", "k5e6b96w160d1"), "must look like"),
        (ZICO_600M.replace("k5e6w160b96d1", "k5e6w160d1"), "must look like"),
        (ZICO_600M.replace("-", "_"), "expected the stem"),
        (ZICO_600M.replace("w160", "w" + "1" * 5000), "must look like"),
    ],
)
def test_malformed_strings(mbv2, text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        mbv2.from_str(text)


def test_non_string_and_generic_parser():
    with pytest.raises(ArchitectureError, match="must be a str"):
        parse_arch(None)  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="no stages"):
        parse_arch("s16")
    assert len(parse_arch(ZICO_450M).stages) == 4


def stage_strategy(spec: StageSpec) -> st.SearchStrategy[MBStage]:
    return st.builds(
        MBStage, *(st.sampled_from(spec.options(a)) for a in STAGE_FIELDS)
    )


arch_strategy = st.builds(
    MBV2Arch,
    st.sampled_from(MBV2Space().stems),
    st.tuples(*(stage_strategy(s) for s in DEFAULT_STAGES)),
)


@given(arch_strategy)
def test_property_round_trip(arch):
    space = MBV2Space()
    assert space.from_str(space.to_str(arch)) == arch
    assert space.from_str("\t" + space.to_str(arch) + " \n") == arch


@settings(max_examples=300)
@given(arch_strategy, st.integers(0, 200), st.text(min_size=0, max_size=3))
def test_property_corrupted_strings_error_or_round_trip(arch, pos, junk):
    space = MBV2Space()
    s = space.to_str(arch)
    pos = pos % (len(s) + 1)
    corrupted = s[:pos] + junk + s[pos + 1 :]
    try:
        parsed = space.from_str(corrupted)
    except ArchitectureError as exc:
        assert str(exc)
    else:  # anything accepted must be exactly a canonical string
        assert space.to_str(parsed) == corrupted.strip()


@given(st.text(max_size=80) | st.text(alphabet="skewbd0123456789-", max_size=80))
def test_property_random_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        MBV2Space().from_str(text)


# --------------------------------------------------------------------------- values
def test_arch_value_validation(mbv2):
    with pytest.raises(ArchitectureError, match="kernel must be odd"):
        MBStage(4, 1, 16, 16, 1)
    with pytest.raises(ArchitectureError, match="depth must be a positive integer"):
        MBStage(3, 1, 16, 16, 0)
    with pytest.raises(ArchitectureError, match="width must be a positive integer"):
        MBStage(3, 1, True, 16, 1)  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="stem width"):
        MBV2Arch(0, (MBStage(3, 1, 16, 16, 1),))
    with pytest.raises(ArchitectureError, match="non-empty tuple of MBStage"):
        MBV2Arch(16, ())
    with pytest.raises(ArchitectureError, match="non-empty tuple of MBStage"):
        MBV2Arch(16, ("k3e1w16b16d1",))  # type: ignore[arg-type]
    a = mbv2.from_str(ZICO_600M)
    b = MBV2Arch(np.int64(24), a.stages)
    assert a == b and hash(a) == hash(b) and type(b.stem) is int
    with pytest.raises(AttributeError):
        a.stem = 16  # type: ignore[misc]
    with pytest.raises(ArchitectureError, match="expected an MBV2Arch"):
        mbv2.to_torch(ZICO_600M)  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="has 4 stages"):
        mbv2.flops(parse_arch(ZICO_450M))


def test_space_config_validation():
    with pytest.raises(ArchitectureError, match="stride"):
        StageSpec(3, (16,), (16,), (1,))
    with pytest.raises(ArchitectureError, match="widths"):
        StageSpec(2, (), (16,), (1,))
    with pytest.raises(ArchitectureError, match="depths"):
        StageSpec(2, (16,), (16,), (1, 1))
    with pytest.raises(ArchitectureError, match="kernels must be odd"):
        StageSpec(2, (16,), (16,), (1,), kernels=(2,))
    with pytest.raises(ArchitectureError, match="stems"):
        MBV2Space(stems=())
    with pytest.raises(ArchitectureError, match="StageSpec"):
        MBV2Space(stages=())
    with pytest.raises(ArchitectureError, match="head_width"):
        MBV2Space(head_width=0)


def _differences(a: MBV2Arch, b: MBV2Arch) -> list[tuple[int, str]]:
    diffs = [(0, "stem")] if a.stem != b.stem else []
    for i, (x, y) in enumerate(zip(a.stages, b.stages, strict=True), start=1):
        diffs.extend((i, f) for f in STAGE_FIELDS if getattr(x, f) != getattr(y, f))
    return diffs


def test_sample_mutate_neighbours_deterministic(mbv2):
    rng1, rng2 = np.random.default_rng(11), np.random.default_rng(11)
    archs = [mbv2.sample(rng1) for _ in range(20)]
    assert archs == [mbv2.sample(rng2) for _ in range(20)]
    expected_n = len(mbv2.stems) - 1 + sum(
        len(spec.options(f)) - 1 for spec in mbv2.stages for f in STAGE_FIELDS
    )
    rng = np.random.default_rng(0)
    for arch in archs:
        mbv2.validate(arch)
        m = mbv2.mutate(arch, rng)
        assert len(_differences(arch, m)) == 1
        nbrs = mbv2.neighbours(arch)
        assert len(nbrs) == expected_n == len(set(nbrs))
        assert m in nbrs and arch not in nbrs
        assert all(len(_differences(arch, n)) == 1 for n in nbrs)
        for n in nbrs[:: max(1, len(nbrs) // 10)]:
            mbv2.validate(n)


@given(arch_strategy, st.integers(0, 2**32 - 1))
def test_property_mutate_stays_in_bounds(arch, seed):
    space = MBV2Space()
    m = space.mutate(arch, np.random.default_rng(seed))
    assert space.validate(m) is m and len(_differences(arch, m)) == 1
    assert space.from_str(space.to_str(m)) == m


def test_mutate_touches_every_attribute(mbv2):
    rng = np.random.default_rng(5)
    arch = mbv2.from_str(ZICO_1G)
    seen = set()
    for _ in range(600):
        seen.update(_differences(arch, mbv2.mutate(arch, rng)))
    assert seen == {(0, "stem")} | {(i, f) for i in range(1, 6) for f in STAGE_FIELDS}


def test_single_choice_space_cannot_mutate():
    space = MBV2Space(stems=(8,), stages=(StageSpec(2, (16,), (16,), (1,), (3,), (1,)),))
    arch = space.sample(np.random.default_rng(0))
    assert space.neighbours(arch) == []
    with pytest.raises(ArchitectureError, match="nothing to mutate"):
        space.mutate(arch, np.random.default_rng(0))


def test_graph(mbv2):
    arch = mbv2.from_str(ZICO_600M)
    g = mbv2.to_graph(arch)
    n_units = 2 * (1 + 1 + 1 + 5 + 4)
    assert len(g.ops) == n_units + 4
    assert g.ops[:3] == ("input", "conv_3x3", "mbconv_k7_e1")
    assert g.ops[-3:] == ("mbconv_k7_e6", "conv_1x1", "output")
    assert g.ops.count("mbconv_k5_e6") == 2
    assert g.edges == tuple((i, i + 1) for i in range(len(g.ops) - 1))
    assert g.groups is not None and g.groups.count("stage4") == 10 and g.groups[-2] == "head"


def test_not_finite(mbv2):
    assert not mbv2.finite
    with pytest.raises(TypeError):
        len(mbv2)
    with pytest.raises(TypeError):
        mbv2[0]
    assert mbv2.parse(" " + ZICO_600M) == mbv2.from_str(ZICO_600M)
    assert mbv2.dataset("imagenet").input_shape == (3, 224, 224)
    assert mbv2.dataset("imagenet").num_classes == 1000
