"""TransNAS-Bench-101 spaces: API strings, index order, networks per task, task losses and
synthetic targets, ground truth."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from zeronas.bench.groundtruth import load_ground_truth
from zeronas.errors import ArchitectureError, DataError, UnknownNameError
from zeronas.hardware import count_flops, count_params
from zeronas.hardware.measures import _BENCHMARK_MAPPING
from zeronas.proxies import ScoreSettings
from zeronas.proxies.runner import make_batch, make_context, score_arch
from zeronas.spaces import TNB101MacroArch, TNB101MicroArch, get_space, list_spaces
from zeronas.spaces.ops_tnb101 import upsamplings
from zeronas.spaces.tasks import soft_cross_entropy, task_protocol
from zeronas.spaces.tnb101 import TASKS, macro_from_str, micro_from_str

TASK_NAMES = list(TASKS)
# cheap but varied: micro with skip (factorized reduce in reduction cells), 1x1, none, 3x3;
# macro halving the resolution twice and doubling the channels twice
MICRO = "64-41414-1_02_031"
MACRO = "64-1234-basic"


@pytest.fixture(scope="module")
def micro():
    return get_space("tnb101_micro")


@pytest.fixture(scope="module")
def macro():
    return get_space("tnb101_macro")


@pytest.fixture(scope="module")
def tnb_data(data_dir: Path) -> Path:
    """The data directory, when it holds the TransNAS-Bench-101 exports (else skip)."""
    for name in ("micro.csv", "macro.csv"):
        if not (data_dir / "transnas101" / name).exists():
            pytest.skip(f"{data_dir / 'transnas101' / name} is absent")
    return data_dir


def _csv(data_dir: Path, name: str) -> list[dict[str, str]]:
    path = data_dir / "transnas101" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- spaces
def test_registered_with_sizes_and_tasks(micro, macro):
    assert {"tnb101_micro", "tnb101_macro"} <= set(list_spaces("tnb101_*"))
    assert len(micro) == 4096 and len(macro) == 3256
    for sp in (micro, macro):
        assert list(sp.datasets) == ["class_scene", "class_object", "jigsaw", "room_layout",
                                     "segmentsemantic", "normal", "autoencoder"]


def test_micro_index_is_base4_of_the_codes(micro):
    assert micro.to_str(micro[0]) == "64-41414-0_00_000"
    assert micro.to_str(micro[4095]) == "64-41414-3_33_333"
    arch = micro.from_str("64-41414-1_02_333")
    assert micro.index(arch) == 1 * 4**5 + 0 * 4**4 + 2 * 4**3 + 3 * 16 + 3 * 4 + 3
    strings = [micro.to_str(a) for a in micro]
    assert strings == sorted(strings) and len(set(strings)) == 4096


def test_macro_index_is_sorted_strings(macro):
    strings = [macro.to_str(a) for a in macro]
    assert strings == sorted(strings) and len(set(strings)) == 3256
    assert all(macro.index(macro.from_str(s)) == i for i, s in enumerate(strings))
    assert {len(macro[i].modules) for i in range(len(macro))} == {4, 5, 6}


def test_every_csv_string_round_trips_in_index_order(data_dir, micro, macro):
    for sp, name, n in ((micro, "micro.csv", 4096), (macro, "macro.csv", 3256)):
        rows = _csv(data_dir, name)
        assert len(rows) == n
        for i, row in enumerate(rows):
            arch = sp.from_str(row["arch"])
            assert sp.to_str(arch) == row["arch"]
            assert sp.index(arch) == i and sp[i] == arch


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("64-41414-3_33", "three groups of 1, 2 and 3"),
        ("64-41414-3_333_33", "three groups of 1, 2 and 3"),
        ("64-41414-3_33_334", "op code '4'"),
        ("64-41414-3_3a_333", "op code 'a'"),
        ("64-41415-3_33_333", "wrong skeleton '41415'"),
        ("64-1234-3_33_333", "wrong skeleton '1234'"),
        ("32-41414-3_33_333", "base width '32' must be 64"),
        ("64-41414-basic", "macro-space string"),
        ("64-41414", "three '-'-separated parts"),
        ("64--3_33_333", "three '-'-separated parts"),
        ("", "three '-'-separated parts"),
    ],
)
def test_malformed_micro_strings(text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        micro_from_str(text)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("64-1234", "missing its cell part '-basic'"),
        ("64-1234-3_33_333", "micro-space cell code"),
        ("64-1234-resnet", "cell 'resnet'"),
        ("64-1254-basic", "module code 5 out of range"),
        ("64-1230-basic", "module code 0 out of range"),
        ("64-123-basic", "3 modules"),
        ("64-1234123-basic", "7 modules"),
        ("64-1111-basic", "halves the resolution 0 times"),
        ("64-3333-basic", "doubles the channels 0 times"),
        ("64-44221-basic", "doubles the channels 4 times"),
        ("64-3333311-basic", "7 modules"),
        ("64-12x4-basic", "malformed macro skeleton"),
        ("128-1234-basic", "base width '128' must be 64"),
    ],
)
def test_malformed_macro_strings(text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        macro_from_str(text)


def test_bad_values_and_messages_are_one_line(micro, macro):
    with pytest.raises(ArchitectureError, match="6 op codes"):
        TNB101MicroArch((1, 2, 3))
    with pytest.raises(ArchitectureError, match="out of range"):
        TNB101MicroArch((1, 2, 3, 4, 0, 0))
    with pytest.raises(ArchitectureError, match="tuple of ints"):
        TNB101MicroArch([1, 2, 3, 0, 0, 0])  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="resolution 0 times"):
        TNB101MacroArch((1, 2, 2, 1))
    with pytest.raises(ArchitectureError, match="TNB101MicroArch"):
        micro.to_str(macro[0])
    with pytest.raises(ArchitectureError, match="out of range"):
        macro[3256]
    for bad in ["64-1234", "64-41414-3_33_334", "garbage"]:
        for sp in (micro, macro):
            with pytest.raises(ArchitectureError) as err:
                sp.from_str(bad)
            assert "\n" not in str(err.value)


def test_unknown_task_lists_the_tasks(micro, macro):
    for sp in (micro, macro):
        arch = sp[0]
        with pytest.raises(UnknownNameError, match=r"class_scene.*segmentsemantic"):
            sp.network_for(arch, "segmentation")
        with pytest.raises(UnknownNameError, match="Did you mean 'segmentsemantic'"):
            sp.to_torch(arch, "segmentsemantics")
        with pytest.raises(TypeError, match="takes the task"):
            sp.to_torch(arch, num_classes=10)


def test_cli_bad_tnb_input_is_one_line_and_exit_2(tmp_path):
    """The issue's bad inputs through the command line: one line on stderr, exit 2, and an
    unknown task is refused before anything is written."""
    from typer.testing import CliRunner

    from zeronas.cli import app

    runner = CliRunner()
    cases = [
        (["score", "--space", "tnb101_macro", "--arch", "64-12345-basic"], "out of range"),
        (["score", "--space", "tnb101_macro", "--arch", "64-1234"], "-basic"),
        (["score", "--space", "tnb101_micro", "--arch", "64-41415-3_33_333"], "skeleton"),
        (["score", "--space", "tnb101_micro", "--arch", "64-41414-3_33_334"], "out of range"),
        (["score", "--space", "tnb101_micro", "--arch", "64-41414-basic"], "macro"),
        (["correlate", "--space", "tnb101_micro", "--dataset", "segmentation", "--proxies",
          "params", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "c.json"),
          "--no-plot"], "segmentsemantic"),
    ]
    for args, expected in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], \
            (args, res.output)
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "c.json").exists()


micro_codes = st.tuples(*[st.integers(0, 3)] * 6)
macro_codes = st.lists(st.integers(1, 4), min_size=4, max_size=6).map(tuple)


@given(micro_codes)
def test_property_micro_round_trip(codes):
    arch = TNB101MicroArch(codes)
    text = str(arch)
    assert micro_from_str(text) == arch and micro_from_str(f" {text}\n") == arch
    sp = get_space("tnb101_micro")
    assert sp[sp.index(arch)] == arch


@given(macro_codes)
def test_property_macro_valid_iff_constraints(codes):
    red = sum(c in (3, 4) for c in codes)
    dbl = sum(c in (2, 4) for c in codes)
    text = f"64-{''.join(map(str, codes))}-basic"
    if 1 <= red <= 4 and 1 <= dbl <= 3:
        arch = macro_from_str(text)
        assert arch.modules == codes and str(arch) == text
    else:
        with pytest.raises(ArchitectureError, match="times"):
            macro_from_str(text)


@settings(max_examples=300)
@given(st.text(alphabet="0123456789-_basicx ", max_size=24))
def test_property_any_text_parses_or_is_an_architecture_error(text):
    for parse, to_str in ((micro_from_str, str), (macro_from_str, str)):
        try:
            arch = parse(text)
        except ArchitectureError as exc:
            assert "\n" not in str(exc)
        else:
            assert parse(to_str(arch)) == arch


def test_neighbours(micro, macro):
    arch = micro.from_str("64-41414-1_02_333")
    nbrs = micro.neighbours(arch)
    assert len(nbrs) == 18 and len(set(nbrs)) == 18 and arch not in nbrs
    assert all(sum(a != b for a, b in zip(n.ops, arch.ops, strict=True)) == 1 for n in nbrs)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = macro.sample(rng)
        nbrs = macro.neighbours(a)
        assert nbrs and a not in nbrs and len(set(nbrs)) == len(nbrs)
        assert all(abs(len(n.modules) - len(a.modules)) <= 1 for n in nbrs)
        assert macro.mutate(a, rng) in nbrs


def test_graphs(micro, macro):
    g = micro.to_graph(micro.from_str("64-41414-1_02_333"))
    assert g.ops == ("input", "skip_connect", "none", "nor_conv_1x1", "nor_conv_3x3",
                     "nor_conv_3x3", "nor_conv_3x3", "output")
    g = macro.to_graph(macro.from_str(MACRO))
    # input, 2 stem convs; module 1 (keep): 2 x (2 convs + skip); module 2 (double):
    # 2 x (2 convs + shortcut); modules 3, 4 (halve): resblock + (2 convs + skip); output
    assert len(g.ops) == 1 + 2 + 6 + 6 + 4 + 4 + 1
    assert g.ops[:3] == ("input", "conv_3x3_c32", "conv_3x3_c64") and g.ops[-1] == "output"
    assert g.ops.count("resblock_c128") == 1 and g.ops.count("resblock_c256") == 1
    assert "conv_1x1_c128" in g.ops and "conv_1x1_c256" not in g.ops
    assert g.groups is not None and g.groups[3] == "module1"
    assert all(s < t for s, t in g.edges)


@pytest.mark.parametrize("arch", [MACRO, "64-1234-basic", "64-41414-basic", "64-4443-basic",
                                  "64-2314-basic"])
def test_macro_graph_costs_are_the_encoders_multiply_adds(macro, arch):
    """Each node's cost is its multiply-adds per input pixel: summed over the graph and
    scaled by the 256 x 256 input they give the encoder's FLOP count exactly."""
    from zeronas.spaces.ops_tnb101 import BasicBlock, Encoder

    a = macro.from_str(arch)
    g = macro.to_graph(a)
    assert g.costs is not None and len(g.costs) == len(g.ops)
    with torch.device("meta"):
        encoder = Encoder(a.modules, BasicBlock, 64)
    assert sum(g.costs) * 256 * 256 == pytest.approx(count_flops(encoder, (3, 256, 256)),
                                                     rel=1e-12)
    free = [c for op, c in zip(g.ops, g.costs, strict=True)
            if op in ("input", "output", "skip_connect")]
    assert free and all(c == 0 for c in free)
    if a.modules[0] == 1:  # a kept first module's convs: 64*64*9 weights, 1/16 of the pixels
        assert g.ops[3] == "conv_3x3_c64" and g.costs[3] == 64 * 64 * 9 / 16


def test_graph_labels_are_in_the_predictor_vocabulary(micro, macro):
    from zeronas.predictors.tgnas.vocab import default_vocabulary

    vocab = default_vocabulary()
    rng = np.random.default_rng(0)
    for sp in (micro, macro):
        labels = set()
        for _ in range(30):
            labels |= set(sp.to_graph(sp.sample(rng)).ops)
        assert all(label in vocab for label in labels), labels


# --------------------------------------------------------------------------- networks
# Parameter counts of the benchmark's own model code (TransNAS-Bench-101 lib/models, as
# vendored by NASLib), built with the benchmark's task configs (47 scene / 75 object
# classes) and counted with sum(p.numel()). The generative tasks' GAN also holds a
# discriminator of 5,168,705 parameters, not part of the network (training only).
REFERENCE_PARAMS = [
    ("tnb101_micro", "64-41414-3_33_333", "class_scene", 41_435_727),
    ("tnb101_micro", "64-41414-1_02_333", "class_object", 22_559_083),
    ("tnb101_micro", "64-41414-1_21_301", "jigsaw", 11_611_912),
    ("tnb101_micro", "64-41414-3_33_333", "segmentsemantic", 52_435_793),
    ("tnb101_micro", "64-41414-1_21_301", "normal", 29_874_771),
    ("tnb101_micro", "64-41414-2_30_121", "autoencoder", 30_731_859),
    ("tnb101_macro", "64-1234-basic", "room_layout", 3_402_537),
    ("tnb101_macro", "64-41414-basic", "jigsaw", 18_599_688),
    ("tnb101_macro", "64-444111-basic", "class_scene", 39_386_447),
    ("tnb101_macro", "64-1123-basic", "segmentsemantic", 8_933_713),
    ("tnb101_macro", "64-1123-basic", "normal", 20_781_395),
    ("tnb101_macro", "64-4443-basic", "segmentsemantic", 31_767_121),
    ("tnb101_macro", "64-4443-basic", "autoencoder", 43_614_803),
    ("tnb101_macro", "64-1234-basic", "normal", 23_912_787),
    ("tnb101_macro", "64-41414-basic", "segmentsemantic", 25_014_865),
    ("tnb101_macro", "64-222333-basic", "autoencoder", 63_023_699),
]


@pytest.mark.parametrize("space, arch, task, expected", REFERENCE_PARAMS)
def test_parameter_counts_match_the_benchmark_code(space, arch, task, expected):
    sp = get_space(space)
    with torch.device("meta"):
        net = sp.network_for(sp.from_str(arch), task)
    assert count_params(net) == expected


def test_linear_head_params_by_hand(micro):
    """Class-count check by hand: a head is (channels + 1) x classes; the micro encoder ends
    at 64 * 2**3 = 512 channels, jigsaw concatenates 9 tiles."""
    arch = micro.from_str("64-41414-3_33_333")
    with torch.device("meta"):
        counts = {t: count_params(micro.network_for(arch, t))
                  for t in ("class_scene", "class_object", "room_layout", "jigsaw")}
    enc = counts["room_layout"] - (512 + 1) * 9
    assert counts["class_scene"] - enc == (512 + 1) * 47
    assert counts["class_object"] - enc == (512 + 1) * 75
    assert counts["jigsaw"] - enc == (9 * 512 + 1) * 1000


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("space, arch", [("tnb101_micro", MICRO), ("tnb101_macro", MACRO)])
def test_forward_every_task_has_the_task_shape(space, arch, task):
    sp = get_space(space)
    info = sp.dataset(task)
    torch.manual_seed(0)
    net = sp.network_for(sp.from_str(arch), task).eval()
    x = torch.randn((2, *info.input_shape))
    with torch.no_grad():
        out = net(x)
    assert tuple(out.shape) == (2, *info.out_shape)
    assert torch.isfinite(out).all()
    if task in ("normal", "autoencoder"):
        assert out.abs().max() <= 1  # tanh output


def test_jigsaw_rejects_untiled_input(micro):
    net = micro.network_for(micro.from_str(MICRO), "jigsaw")
    with pytest.raises(ValueError, match=r"\(N, 9, C, H, W\)"):
        net(torch.randn(1, 3, 64, 64))


def test_macro_shortcut_bn_is_the_benchmarks(macro):
    """The benchmark's shortcut BN gets eps=1, momentum=1 (positional arguments)."""
    net = macro.network_for(macro.from_str(MACRO), "class_scene")
    bns = [m for n, m in net.named_modules()
           if n.endswith("downsample.1") and isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 3 and all(b.eps == 1.0 and b.momentum == 1.0 for b in bns)


def _real_flops(net: torch.nn.Module, shape: tuple[int, ...]) -> float:
    counter = FlopCounterMode(display=False, custom_mapping=_BENCHMARK_MAPPING)
    net.eval()
    with counter, torch.no_grad():
        net(torch.zeros((1, *shape)))
    return counter.get_total_flops() / 2.0


@pytest.mark.parametrize("space, arch, task", [
    ("tnb101_micro", MICRO, "segmentsemantic"),
    ("tnb101_micro", "64-41414-1_11_100", "jigsaw"),
    ("tnb101_macro", MACRO, "normal"),
    ("tnb101_macro", "64-4443-basic", "class_object"),
])
def test_meta_flop_count_equals_a_real_forward(space, arch, task):
    """The meta-device shortcuts (BN, activations, sums, zeros skipped) count the same FLOPs
    as running every layer on real tensors."""
    sp = get_space(space)
    info = sp.dataset(task)
    net = sp.network_for(sp.from_str(arch), task)
    assert count_flops(net, info.input_shape) == pytest.approx(
        _real_flops(net, info.input_shape), rel=1e-12)


def test_decoder_depth_matches_the_benchmark_formula(macro):
    """The benchmark sizes decoders from the feature width at a nominal 224 input,
    int(log2(256 / width)); for every skeleton this equals the exact number of doublings
    from the width at the real 256 input."""
    for arch in macro:
        k = sum(c > 2 for c in arch.modules)
        w224 = 56
        for _ in range(k):
            w224 //= 2
        assert upsamplings(64 // 2**k, 256) == int(math.log2(256 / w224)) == k + 2


# --------------------------------------------------------------------------- losses, proxies
def test_soft_cross_entropy_is_the_benchmarks():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, generator=g)
    target = torch.softmax(torch.randn(4, 7, generator=g), dim=-1)
    expected = -(target * torch.log(torch.softmax(logits, -1) + 1e-5)).sum(-1).mean()
    assert torch.allclose(soft_cross_entropy(logits, target), expected)
    labels = torch.tensor([0, 3, 6, 2])
    one_hot = torch.nn.functional.one_hot(labels, 7).float()
    assert torch.allclose(soft_cross_entropy(logits, labels), soft_cross_entropy(logits, one_hot))
    with pytest.raises(ValueError, match="one label per sample"):
        soft_cross_entropy(logits, labels[:2])


EXPECTED_TARGETS = {
    "class_scene": ("soft_cross_entropy", (), torch.int64),
    "class_object": ("soft_cross_entropy", (), torch.int64),
    "jigsaw": ("cross_entropy", (), torch.int64),
    "room_layout": ("mse", (9,), torch.float32),
    "segmentsemantic": ("cross_entropy", (256, 256), torch.int64),
    "normal": ("l1", (3, 256, 256), torch.float32),
    "autoencoder": ("l1", (3, 256, 256), torch.float32),
}


@pytest.mark.parametrize("task", TASK_NAMES)
def test_runner_uses_the_task_loss_and_synthetic_targets(micro, task):
    loss, shape, dtype = EXPECTED_TARGETS[task]
    settings = ScoreSettings(batch_size=3, batches=2, seed=5)
    ctx = make_context(micro, task, settings)
    assert ctx.loss.__name__ == loss
    batch = make_batch(micro, task, settings)
    again = make_batch(micro, task, settings)
    info = micro.dataset(task)
    for (x, y), (x2, y2) in zip(batch.batches, again.batches, strict=True):
        assert tuple(x.shape) == (3, *info.input_shape)
        assert tuple(y.shape) == (3, *shape) and y.dtype == dtype
        assert torch.equal(x, x2) and torch.equal(y, y2)  # seeded
    y = batch.batches[0][1]
    if task == "autoencoder":
        assert torch.equal(y, batch.batches[0][0])
    elif task == "normal":
        assert float(y.min()) >= 0 and float(y.max()) < 1
    elif dtype == torch.int64:
        assert int(y.min()) >= 0 and int(y.max()) < info.num_classes
    proto = task_protocol(info)
    assert proto["task_loss"] == loss and proto["task_output_shape"] == list(info.out_shape)
    assert ("synthetic" in proto["task_targets"]) == (task in
                                                      ("room_layout", "segmentsemantic",
                                                       "normal", "autoencoder"))


def test_default_datasets_keep_cross_entropy_and_labels(nb201):
    settings = ScoreSettings(batch_size=2, batches=1)
    assert make_context(nb201, "cifar10", settings).loss is torch.nn.functional.cross_entropy
    _, y = make_batch(nb201, "cifar10", settings).first
    assert tuple(y.shape) == (2,) and y.dtype == torch.int64


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("space, arch", [("tnb101_micro", MICRO), ("tnb101_macro", MACRO)])
def test_grad_norm_and_synflow_are_finite(space, arch, task):
    """Both proxies run through the task's loss and targets. SynFlow is exactly 0 on the
    generative tasks: with absolute weights and an all-ones input the final tanh saturates
    (tanh = 1 in float64), so no gradient reaches the weights -- a property of the proxy on
    tanh-output networks, not a failure."""
    sp = get_space(space)
    scores = score_arch(sp, sp.from_str(arch), ["grad_norm", "synflow"], task,
                        ScoreSettings(batch_size=2, batches=1, seed=0))
    assert all(math.isfinite(v) for v in scores.values()), scores
    assert scores["grad_norm"] > 0
    if task in ("normal", "autoencoder"):
        assert scores["synflow"] == 0
    else:
        assert scores["synflow"] > 0


# --------------------------------------------------------------------------- ground truth
def test_ground_truth_every_task(tnb_data, micro, macro):
    for sp, n in ((micro, 4096), (macro, 3256)):
        gt = load_ground_truth(sp.name, data=tnb_data)
        assert len(gt) == n and gt.space == sp.name and gt.higher_is_better
        assert gt.datasets == TASK_NAMES
        assert all(sp.index(sp.from_str(a)) == i for i, a in enumerate(gt.order))
        assert max(gt.column("room_layout").values()) < 0  # a negative loss, as stored
        normal = gt.column("normal").values()
        assert min(normal) >= 0 and max(normal) <= 1
        with pytest.raises(UnknownNameError, match=r"class_scene.*segmentsemantic"):
            gt.column("scene")
    gt = load_ground_truth("tnb101_micro", data=tnb_data)
    assert max(gt.column("class_scene").values()) == pytest.approx(54.94, abs=0.01)
    assert max(gt.column("jigsaw").values()) == pytest.approx(95.37, abs=0.01)


def test_ground_truth_bad_files(tmp_path):
    from zeronas.bench.gt_tnb101 import load_tnb101_macro, load_tnb101_micro

    header = "arch,class_scene,class_object,jigsaw,room_layout,segmentsemantic,normal,autoencoder"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n64-41414-3_33_334,1,2,3,-1,5,0.5,0.5\n")
    with pytest.raises(DataError, match="row 2: op code '4'"):
        load_tnb101_micro(bad)
    bad.write_text(header + "\n64-1234-basic,1,2,3,-1,5,0.5,x\n")
    with pytest.raises(DataError, match="row 2: column 'autoencoder' must be a number"):
        load_tnb101_macro(bad)
    row = "64-1234-basic,1,2,3,-1,5,0.5,0.5\n"
    bad.write_text(header + "\n" + row + row)
    with pytest.raises(DataError, match="row 3: duplicate"):
        load_tnb101_macro(bad)
    bad.write_text("arch,class_scene\n64-1234-basic,1\n")
    with pytest.raises(DataError, match="missing column"):
        load_tnb101_macro(bad)
    with pytest.raises(DataError, match="not found"):
        load_tnb101_micro(tmp_path / "absent.csv")


def test_cli_correlate_on_a_task_of_each_space(tnb_data, tmp_path):
    from typer.testing import CliRunner

    from zeronas.cli import app

    for space in ("tnb101_micro", "tnb101_macro"):
        res = CliRunner().invoke(app, [
            "correlate", "--space", space, "--dataset", "room_layout", "--proxies", "params",
            "--sample", "3", "--batch-size", "2", "--batches", "1", "--bootstrap", "0",
            "--no-plot", "--store", str(tmp_path / "s.sqlite"),
            "--out", str(tmp_path / f"{space}.json"),
        ], env={"ZERONAS_DATA": str(tnb_data)})
        assert res.exit_code == 0, res.output
        out = json.loads((tmp_path / f"{space}.json").read_text())
        assert out["n"] == 3 and out["protocol"]["dataset"] == "room_layout"
    bad = CliRunner().invoke(app, [
        "correlate", "--space", "tnb101_micro", "--dataset", "scene", "--sample", "5",
        "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "c.json"),
    ], env={"ZERONAS_DATA": str(tnb_data)})
    assert bad.exit_code == 2 and "class_scene" in bad.output


def test_zen_feature_map_of_a_dense_decoder_is_its_last_conv_input(micro):
    """Dense decoders have no global pooling: Zen-score reads the input of the decoder's last
    convolution (NASLib's ``_forward_before_last_conv``); classifiers keep the pre-GAP map.
    The definition is part of the store key for the dense tasks only."""
    from zeronas.bench.correlate import proxy_protocol
    from zeronas.proxies import get_proxy
    from zeronas.proxies.activation import pre_gap_features
    from zeronas.proxies.runner import build_network

    arch = micro.from_str("64-41414-3_33_333")
    x = torch.randn(2, 3, 256, 256)
    for task, channels in (("normal", 16), ("autoencoder", 16), ("segmentsemantic", 32)):
        net = build_network(micro, arch, task, 0)
        last = net.get_submodule(net.pre_gap_input)
        convs = [m for m in net.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
        assert last is convs[-1]
        seen: list[torch.Tensor] = []
        handle = last.register_forward_pre_hook(lambda m, a, seen=seen: seen.append(a[0]))
        got = pre_gap_features(net, x)
        handle.remove()
        assert got.feature.shape[1] == channels and torch.equal(got.feature, seen[0])
        assert len(got.bn_modules) == sum(isinstance(m, torch.nn.BatchNorm2d)
                                          for m in net.modules())
    net = build_network(micro, arch, "class_scene", 0)
    assert net.pre_gap_input is None and pre_gap_features(net, x).feature.shape[2:] == (8, 8)
    settings = ScoreSettings(batch_size=2, batches=1)
    for name in ("zen", "zen_released"):
        spec = get_proxy(name)
        assert "feature_map" in proxy_protocol(spec, "tnb101_micro", "normal", settings)
        assert "feature_map" not in proxy_protocol(spec, "tnb101_micro", "class_scene", settings)
        assert proxy_protocol(spec, "nb201", "cifar10", settings) == {
            "space": "nb201", "network": "cifar10", "proxy": name, "seed": 0}
