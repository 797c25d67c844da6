"""DARTS space: genotype strings, the DARTS-1000 ground truth, mutations, graphs, networks."""

from __future__ import annotations

import contextlib
import csv
import re
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeronas.bench.gt_darts_nb101 import load_darts1000
from zeronas.errors import ArchitectureError, DataError
from zeronas.hardware import count_params
from zeronas.spaces.darts import (
    OPS,
    DartsGenotype,
    DartsSpace,
    genotype_from_str,
    genotype_to_str,
)

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
ROW1 = (
    "Genotype(normal=[('none', 0), ('dil_conv_5x5', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 3), ('skip_connect', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('none', 0), ('dil_conv_5x5', 0), ('sep_conv_5x5', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 3), "
    "('skip_connect', 4)], reduce_concat=[2, 3, 4, 5])"
)


@pytest.fixture(scope="module")
def darts() -> DartsSpace:
    return DartsSpace()


@pytest.fixture(scope="module")
def darts_csv(data_dir: Path) -> Path:
    path = data_dir / "darts-1000" / "DARTS_archs_CIFAR10.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def replace_edge(text: str, cell: str, k: int, new: str) -> str:
    """``text`` with edge ``k`` of ``cell`` replaced by the literal ``new``."""
    start = text.index(f"{cell}=[") + len(cell) + 2
    end = text.index("]", start)
    edges = re.findall(r"\('[^']*', \d+\)", text[start:end])
    edges[k] = new
    return text[:start] + ", ".join(edges) + text[end:]


# --------------------------------------------------------------------------- strings
def test_all_darts1000_strings_round_trip_byte_for_byte(darts_csv, darts):
    with open(darts_csv, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1000
    strict = DartsSpace(distinct_inputs=True)
    rejected = 0
    for text, _acc in rows:
        arch = darts.from_str(text)
        assert darts.to_str(arch) == text
        try:
            strict.from_str(text)
        except ArchitectureError as exc:
            assert "distinct inputs" in str(exc)
            rejected += 1
        else:
            assert not arch.has_duplicate_inputs()
    # SWAP drew the two inputs of a node independently: most rows have a node fed twice
    assert rejected == sum(darts.from_str(t).has_duplicate_inputs() for t, _ in rows) == 811


def test_known_genotypes_round_trip(darts):
    for text in (DARTS_V2, ROW1):
        g = darts.from_str(text)
        assert darts.to_str(g) == str(g) == text
    g = darts.from_str(DARTS_V2)
    assert g.normal[7] == ("dil_conv_3x3", 2) and g.reduce[0] == ("max_pool_3x3", 0)
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


def test_tolerated_spellings():
    g = genotype_from_str(DARTS_V2)
    assert genotype_from_str("  " + DARTS_V2.replace("'", '"') + "\n") == g
    assert genotype_from_str(DARTS_V2.replace(", ", ",")) == g
    assert genotype_from_str(DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")) == g


def test_from_darts_namedtuple():
    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    g = genotype_from_str(DARTS_V2)
    nt = Genotype([list(e) for e in g.normal], range(2, 6), list(g.reduce), [2, 3, 4, 5])
    assert DartsGenotype.from_darts(nt) == g
    with pytest.raises(ArchitectureError, match="concat"):
        DartsGenotype.from_darts(nt._replace(reduce_concat=[4, 5]))


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda s: s.replace(", ('dil_conv_3x3', 2)], normal_concat", "], normal_concat"),
         "normal cell has 7 edges: expected 8"),
        (lambda s: s.replace("('max_pool_3x3', 1)], reduce_concat",
                             "('max_pool_3x3', 1), ('none', 0)], reduce_concat"),
         "reduce cell has 9 edges"),
        (lambda s: replace_edge(s, "normal", 2, "('sep_conv_3x3', 3)"), "self loop"),
        (lambda s: replace_edge(s, "reduce", 7, "('max_pool_3x3', 5)"), "self loop"),
        (lambda s: replace_edge(s, "normal", 0, "('sep_conv_3x3', 4)"),
         "later node 4; expected an input in 0..1"),
        (lambda s: replace_edge(s, "normal", 1, "('conv_7x1_1x7', 1)"),
         "unknown DARTS op 'conv_7x1_1x7'"),
        (lambda s: s.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"),
         r"normal_concat=\[4, 5\] is not supported"),
        (lambda s: s.replace("reduce=", "reduction="), "expected the field name 'reduce'"),
        (lambda s: s.replace("Genotype(", "Genotpe("), "expected 'Genotype'"),
        (lambda s: s + " x", "unexpected text after"),
        (lambda s: s[:-1], r"expected '\)' closing"),
        (lambda s: s.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 00)", 1),
         "not a plain integer"),
        (lambda s: s.replace("('sep_conv_3x3', 0)", "(sep_conv_3x3, 0)", 1), "quoted op name"),
        (lambda s: s.replace("'sep_conv_3x3'", "'sep_conv_3x3", 1), "unexpected character"),
        (lambda s: "", "empty DARTS genotype"),
        (lambda s: "Genotype", "expected '\\('"),
    ],
)
def test_malformed_strings(mutate, fragment):
    text = mutate(DARTS_V2)
    with pytest.raises(ArchitectureError, match=fragment):
        genotype_from_str(text)


def test_duplicate_inputs_only_rejected_by_the_strict_space():
    text = replace_edge(DARTS_V2, "normal", 3, "('sep_conv_3x3', 0)")  # node 3: 0 and 0
    assert DartsSpace().from_str(text).has_duplicate_inputs()
    with pytest.raises(ArchitectureError, match="node 3 takes both inputs from node 0"):
        DartsSpace(distinct_inputs=True).from_str(text)
    with pytest.raises(ArchitectureError, match="distinct inputs"):
        DartsSpace(distinct_inputs=True).to_str(genotype_from_str(text))


def test_non_string_input():
    with pytest.raises(ArchitectureError, match="must be a str"):
        genotype_from_str(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties
@st.composite
def cells(draw, distinct: bool = False):
    cell = []
    for node in range(2, 6):
        if distinct:
            srcs = draw(st.lists(st.integers(0, node - 1), min_size=2, max_size=2, unique=True))
        else:
            srcs = draw(st.lists(st.integers(0, node - 1), min_size=2, max_size=2))
        ops = draw(st.lists(st.sampled_from(OPS), min_size=2, max_size=2))
        cell.extend(zip(ops, srcs, strict=True))
    return tuple(cell)


genotypes = st.builds(DartsGenotype, cells(), cells())
strict_genotypes = st.builds(DartsGenotype, cells(True), cells(True))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text.replace('"', "'"))


@given(genotypes)
def test_property_round_trip(g):
    s = genotype_to_str(g)
    assert genotype_from_str(s) == g
    assert genotype_from_str(" " + s.replace(" ", "  ") + "\n") == g


@given(strict_genotypes)
def test_property_strict_round_trip(g):
    strict = DartsSpace(distinct_inputs=True)
    assert strict.from_str(strict.to_str(g)) == g


@settings(max_examples=300)
@given(genotypes, st.integers(0, 1000), st.text(min_size=0, max_size=3))
def test_property_corrupted_strings_error_or_canonical(g, pos, junk):
    s = genotype_to_str(g)
    pos = pos % (len(s) + 1)
    corrupted = s[:pos] + junk + s[pos + 1 :]
    try:
        parsed = genotype_from_str(corrupted)
    except ArchitectureError as exc:
        assert str(exc)
    else:  # anything accepted is the canonical string up to whitespace and quote style
        assert _normalise(genotype_to_str(parsed)) == _normalise(corrupted)


@given(st.text(max_size=120))
def test_property_random_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        genotype_from_str(text)


@given(st.text(alphabet="Genotype(normal=[('sep_conv_3x3', 0)])_cat,2345", max_size=150))
def test_property_genotype_like_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        genotype_from_str("Genotype(" + text)


# --------------------------------------------------------------------------- values
def test_genotype_value_validation():
    g = genotype_from_str(DARTS_V2)
    assert hash(g) == hash(genotype_from_str(DARTS_V2))
    with pytest.raises(AttributeError):
        g.normal = g.reduce  # type: ignore[misc]
    assert DartsGenotype.create([list(e) for e in g.normal], list(g.reduce)) == g
    with pytest.raises(ArchitectureError, match="create"):
        DartsGenotype([list(e) for e in g.normal], g.reduce)  # type: ignore[arg-type]
    with pytest.raises(ArchitectureError, match="edges"):
        DartsGenotype.create(g.normal[:6], g.reduce)
    with pytest.raises(ArchitectureError, match="integer"):
        DartsGenotype.create([("none", True), *g.normal[1:]], g.reduce)
    with pytest.raises(ArchitectureError, match="later node"):
        DartsGenotype.create([("none", 3), *g.normal[1:]], g.reduce)


def test_sample_mutate_neighbours(darts):
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    a = [darts.sample(rng1) for _ in range(20)]
    assert a == [darts.sample(rng2) for _ in range(20)]
    assert len(set(a)) == 20
    rng, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    for g in a:
        m = darts.mutate(g, rng)
        assert m == darts.mutate(g, rng_b)
        changed = [(x, y) for c in ("normal", "reduce")
                   for x, y in zip(g.cell(c), m.cell(c), strict=True) if x != y]
        assert len(changed) == 1
        (op0, in0), (op1, in1) = changed[0]
        assert (op0 == op1) != (in0 == in1)  # exactly one of op / input changed
        nbrs = darts.neighbours(g)
        # per cell: 8 edges x 7 other ops + (1+1+2+2+3+3+4+4) other inputs
        assert len(nbrs) == len(set(nbrs)) == 2 * (8 * 7 + 20)
        assert m in nbrs and g not in nbrs


def test_strict_space_sample_mutate_neighbours():
    strict = DartsSpace(distinct_inputs=True)
    rng = np.random.default_rng(0)
    for _ in range(30):
        g = strict.sample(rng)
        assert not g.has_duplicate_inputs()
        assert not strict.mutate(g, rng).has_duplicate_inputs()
        nbrs = strict.neighbours(g)
        assert nbrs and not any(n.has_duplicate_inputs() for n in nbrs)
        assert len(nbrs) == 2 * (8 * 7 + 0 + 2 * 1 + 2 * 2 + 2 * 3)


def test_sample_is_roughly_uniform(darts):
    rng = np.random.default_rng(0)
    ops = {op: 0 for op in OPS}
    first_inputs = [0, 0, 0, 0, 0]
    for _ in range(500):
        g = darts.sample(rng)
        for op, _src in g.normal + g.reduce:
            ops[op] += 1
        for _op, src in g.normal[6:8]:
            first_inputs[src] += 1
    assert all(850 < c < 1150 for c in ops.values())  # 8000 draws / 8 = 1000 expected
    assert all(150 < c < 350 for c in first_inputs)  # node 5: inputs 0..4, 1000 / 5 each


def test_not_finite(darts):
    assert not darts.finite
    with pytest.raises(TypeError):
        len(darts)
    with pytest.raises(TypeError):
        darts[0]


def test_canonical_ignores_edge_order(darts):
    g = genotype_from_str(DARTS_V2)
    swapped = replace_edge(replace_edge(DARTS_V2, "normal", 0, "('sep_conv_3x3', 1)"),
                           "normal", 1, "('sep_conv_3x3', 0)")
    h = genotype_from_str(swapped)
    assert g != h and darts.canonical(g) == darts.canonical(h)
    assert darts.canonical(g) != darts.canonical(genotype_from_str(ROW1))


# --------------------------------------------------------------------------- graphs
def test_graph(darts):
    g = genotype_from_str(DARTS_V2)
    graph = darts.to_graph(g)
    assert len(graph.ops) == 22
    assert graph.groups == ("normal",) * 11 + ("reduce",) * 11
    assert graph.ops[:2] == ("input_c_{k-2}", "input_c_{k-1}") and graph.ops[10] == "output"
    assert graph.ops[2:10] == tuple(op for op, _ in g.normal)
    assert graph.ops[13:21] == tuple(op for op, _ in g.reduce)
    edges = set(graph.edges)
    assert all(s < t for s, t in edges)
    assert all(s < 11 for s, t in edges if t < 11) and all(s >= 11 for s, t in edges if t >= 11)
    # normal edge 7 is ('dil_conv_3x3', 2): fed by both op nodes of node 2 (op nodes 2, 3)
    assert {s for s, t in edges if t == 9} == {2, 3}
    # normal edge 0 ('sep_conv_3x3', 0) is fed by c_{k-2} only
    assert {s for s, t in edges if t == 2} == {0}
    assert {s for s, t in edges if t == 10} == set(range(2, 10))
    assert {s for s, t in edges if t == 21} == set(range(13, 21))
    assert graph.adjacency().sum() == len(graph.edges)


# --------------------------------------------------------------------------- networks
def test_darts_v2_parameters_match_the_paper(darts):
    g = darts.from_str(DARTS_V2)
    with torch.device("meta"):
        cifar = darts.to_torch(g, C=36, layers=20)
        with_aux = darts.to_torch(g, C=36, layers=20, auxiliary=True)
        imagenet = darts.to_torch(g, num_classes=1000, C=48, layers=14, imagenet=True)
    # the DARTS code prints "param size = 3.349342MB" (auxiliary head excluded); paper: 3.3M
    assert count_params(cifar) == 3_349_342
    aux = sum(p.numel() for n, p in with_aux.named_parameters() if "auxiliary" in n)
    assert count_params(with_aux) - aux == 3_349_342 and aux > 0
    # paper: 4.7M parameters on ImageNet (mobile setting)
    assert count_params(imagenet) == 4_718_752


def test_network_forward_small(darts):
    torch.manual_seed(0)
    g = darts.from_str(DARTS_V2)
    net = darts.to_torch(g, num_classes=7, C=4, layers=3)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    aux = darts.to_torch(g, C=4, layers=3, auxiliary=True).train()
    logits, logits_aux = aux.forward_with_aux(torch.randn(2, 3, 32, 32))
    assert logits.shape == logits_aux.shape == (2, 10)
    imnet = darts.to_torch(darts.from_str(ROW1), num_classes=5, C=8, layers=3, imagenet=True)
    out = imnet(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    default = darts.network_for(darts.from_str(ROW1), "cifar10")
    assert sum(isinstance(m, torch.nn.Module) for m in default.cells) == 8  # proxy setting


def test_reduction_positions_and_channels(darts):
    net = darts.to_torch(darts.from_str(ROW1), C=16, layers=8)
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True,
                                                False, False]
    assert net.classifier.in_features == 4 * 64


def test_bad_options(darts):
    with pytest.raises(ArchitectureError):
        DartsSpace(C=3)
    with pytest.raises(ArchitectureError):
        DartsSpace(layers=0)
    with pytest.raises(TypeError, match="unexpected"):
        darts.to_torch(darts.from_str(DARTS_V2), N=3)
    with pytest.raises(ArchitectureError, match="DartsGenotype"):
        darts.to_torch("not a genotype")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ground truth
def test_load_darts1000(darts_csv, darts):
    gt = load_darts1000(darts_csv)
    assert gt.space == "darts" and len(gt) == 1000
    assert "validation accuracy (%) after 200 epochs of a reduced training recipe " \
           "(SWAP's DARTS-1000 set)" in gt.description
    with open(darts_csv, newline="") as fh:
        rows = list(csv.reader(fh))
    assert list(gt.order) == [r[0] for r in rows]
    assert gt.get(ROW1, "cifar10") == 85.0
    values = list(gt.column("cifar10").values())
    assert min(values) == pytest.approx(10.22, abs=0.01) and max(values) == pytest.approx(86.61,
                                                                                        abs=0.01)
    assert all(darts.to_str(darts.from_str(k)) == k for k in gt)
    assert load_darts1000(data=darts_csv.parent.parent).order == gt.order


@pytest.mark.parametrize(
    "lines, fragment",
    [
        ([f'"{ROW1}",85.0', f'"{DARTS_V2}",80', '"Genotype(normal=[])",1'],
         "row 3: malformed DARTS genotype"),
        ([f'"{ROW1}",85.0', f'"{DARTS_V2}"'], "row 2: expected 2 columns"),
        ([f'"{ROW1}",eighty'], "row 1: column 'accuracy' must be a number"),
        ([f'"{ROW1}",nan'], "row 1: column 'accuracy' is not finite"),
        ([f'"{ROW1}",85.0', f'"{ROW1}",84.0'], "row 2: duplicate genotype"),
        ([f'"{ROW1.replace("none", "zero", 1)}",1'], "row 1: unknown DARTS op 'zero'"),
        ([""], "has no rows"),
    ],
)
def test_load_darts1000_malformed(tmp_path, lines, fragment):
    path = tmp_path / "darts.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=fragment):
        load_darts1000(path)


def test_load_darts1000_missing(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_darts1000(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not found"):
        load_darts1000(data=tmp_path)
