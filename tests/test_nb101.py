"""NAS-Bench-101 space: pruning, the benchmark's hash, strings, mutations, the network itself."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from zeronas.bench.gt_darts_nb101 import load_nb101_500
from zeronas.errors import ArchitectureError, DataError
from zeronas.hardware import count_params
from zeronas.spaces.nb101 import (
    OPS,
    NB101Arch,
    NB101Space,
    arch_from_str,
    arch_to_str,
    compute_vertex_channels,
    graph_hash,
    prune,
)

C1, C3, MP = "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3"
INCEPTION_MATRIX = [
    [0, 1, 1, 1, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
INCEPTION_OPS = ["input", C1, C3, C3, C3, MP, "output"]
INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"

# (graph hash, trainable parameters, pruned spec) as stored in the benchmark's tables (from the
# NAS-Bench-101 records in NASLib's test assets); hashes and parameter counts are the benchmark's.
BENCHMARK_CELLS = [
    ("ff92c322c5d9d3d587d9c146a63d0807", 6315018,
     '{"matrix":[[0,1,0,1,0,0,0],[0,0,1,1,1,0,0],[0,0,0,1,0,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,1,0],'
     '[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],"ops":["input","conv3x3-bn-relu","conv1x1-bn-relu",'
     '"conv1x1-bn-relu","conv3x3-bn-relu","conv1x1-bn-relu","output"]}'),
    ("ff92f5b1c089ae4963a29ec17cc080b2", 12252810,
     '{"matrix":[[0,1,0,0,0,0,0],[0,0,1,0,1,0,0],[0,0,0,1,0,0,0],[0,0,0,0,1,1,0],[0,0,0,0,0,1,0],'
     '[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],"ops":["input","maxpool3x3","conv3x3-bn-relu",'
     '"conv1x1-bn-relu","conv1x1-bn-relu","maxpool3x3","output"]}'),
    ("ff94b7dac93961c7a5fa561d395ccc88", 4869002,
     '{"matrix":[[0,1,0,0,0,0,1],[0,0,1,0,0,0,0],[0,0,0,1,0,0,0],[0,0,0,0,1,0,0],[0,0,0,0,0,1,0],'
     '[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],"ops":["input","conv1x1-bn-relu","conv1x1-bn-relu",'
     '"maxpool3x3","conv1x1-bn-relu","maxpool3x3","output"]}'),
    ("ff958f8d8f556448ff2a5973f17ff22a", 2624049,
     '{"matrix":[[0,1,1,0,0,1],[0,0,0,0,1,1],[0,0,0,1,0,0],[0,0,0,0,1,1],[0,0,0,0,0,1],'
     '[0,0,0,0,0,0]],"ops":["input","conv3x3-bn-relu","conv1x1-bn-relu","maxpool3x3",'
     '"maxpool3x3","output"]}'),
    ("ff9707907f5c17ef8f80cc68fff30f74", 14000266,
     '{"matrix":[[0,1,0,1,0,1],[0,0,1,0,0,0],[0,0,0,1,0,0],[0,0,0,0,1,0],[0,0,0,0,0,1],'
     '[0,0,0,0,0,0]],"ops":["input","conv1x1-bn-relu","conv1x1-bn-relu","maxpool3x3",'
     '"conv3x3-bn-relu","output"]}'),
]


@pytest.fixture(scope="module")
def nb101() -> NB101Space:
    return NB101Space()


@pytest.fixture(scope="module")
def inception() -> NB101Arch:
    return NB101Arch.create(INCEPTION_MATRIX, INCEPTION_OPS)


@pytest.fixture(scope="module")
def nb101_csv(data_dir: Path) -> Path:
    path = data_dir / "nb101-500" / "nb101_500_cifar10.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def spec_json(matrix, ops) -> str:
    return json.dumps({"matrix": matrix, "ops": ops})


# --------------------------------------------------------------------------- benchmark facts
def test_inception_parameters_and_hash(nb101, inception):
    assert inception.num_vertices == 7 and inception.num_edges == 9
    assert nb101.canonical(inception) == inception.spec_hash() == INCEPTION_HASH
    with torch.device("meta"):
        net = nb101.to_torch(inception)
    # the benchmark's trainable_parameters (TF batch norm trains both gamma and beta)
    assert count_params(net) == 2_694_282


def test_inception_as_stored_by_the_benchmark(nb101, inception):
    # the benchmark's query() returns the same cell with its vertices relabelled
    stored = NB101Arch.create(
        [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        ["input", C3, C1, MP, C3, C3, "output"],
    )
    assert stored != inception
    assert stored.spec_hash() == INCEPTION_HASH
    with torch.device("meta"):
        assert count_params(nb101.to_torch(stored)) == 2_694_282


@pytest.mark.parametrize("expected_hash, params, text", BENCHMARK_CELLS)
def test_benchmark_hashes_and_parameters(nb101, expected_hash, params, text):
    arch = nb101.from_str(text)
    assert nb101.to_str(arch) == text
    assert arch.spec_hash() == expected_hash
    with torch.device("meta"):
        assert count_params(nb101.to_torch(arch)) == params


def test_vertex_channels():
    m = NB101Arch.create(INCEPTION_MATRIX, INCEPTION_OPS).matrix
    assert compute_vertex_channels(128, 128, m) == [128, 32, 32, 32, 32, 32, 128]
    uneven = arch_from_str(BENCHMARK_CELLS[3][2]).matrix  # output fed by 3 vertices
    assert compute_vertex_channels(128, 128, uneven) == [128, 43, 43, 43, 42, 128]
    assert compute_vertex_channels(64, 256, ((0, 1), (0, 0))) == [64, 256]


# --------------------------------------------------------------------------- pruning
def test_pruning_dangling_vertices():
    # vertex 2 has no path to the output, vertex 4 none from the input
    matrix = [
        [0, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    ops = ["input", C3, C1, MP, C3, C1, "output"]
    pm, po = prune(matrix, ops)
    assert pm == ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert po == ("input", C3, MP, "output")
    arch = NB101Arch.create(matrix, ops)
    assert arch.matrix == pm and arch.ops == po
    assert arch_to_str(arch) == (
        '{"matrix":[[0,1,0,0],[0,0,1,0],[0,0,0,1],[0,0,0,0]],'
        '"ops":["input","conv3x3-bn-relu","maxpool3x3","output"]}'
    )
    with pytest.raises(ArchitectureError, match="pruned specs only"):
        NB101Arch(tuple(map(tuple, matrix)), tuple(ops))


def test_pruning_to_input_output_only(nb101):
    matrix = [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    arch = NB101Arch.create(matrix, ["input", C3, C3, "output"])
    assert arch.matrix == ((0, 1), (0, 0)) and arch.ops == ("input", "output")
    net = nb101.to_torch(arch, stem_channels=8, num_stacks=2, num_modules=1)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_many_raw_edges_but_nine_after_pruning():
    # 10 raw edges; vertex 5 dangles (no out-edge), taking 2 of them away
    matrix = [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    assert sum(map(sum, matrix)) == 10
    arch = NB101Arch.create(matrix, ["input", C3, C3, C3, C3, C3, "output"])
    assert arch.num_vertices == 6 and arch.num_edges == 8


# --------------------------------------------------------------------------- hash
def test_hash_invariant_under_vertex_permutation(inception):
    rng = np.random.default_rng(0)
    m = np.array(inception.matrix)
    labels = list(inception.ops)
    for _ in range(20):
        perm = rng.permutation(len(labels))  # new vertex perm[v] is old vertex v
        inv = np.argsort(perm)
        pm = m[np.ix_(inv, inv)]
        plabels = [labels[i] for i in inv]
        # graph_hash only needs the labels of input/output to be found by name
        assert _hash_any_order(pm, plabels) == INCEPTION_HASH


def _hash_any_order(matrix, labels) -> str:
    """graph_hash of a spec whose vertices are in any order (input/output anywhere)."""
    n = len(labels)
    order = [labels.index("input")] + [i for i, x in enumerate(labels)
                                       if x not in ("input", "output")] + [labels.index("output")]
    m = [[int(matrix[order[i]][order[j]]) for j in range(n)] for i in range(n)]
    return graph_hash(m, [labels[i] for i in order])


def test_hash_distinguishes_ops_and_edges(inception):
    ops = list(inception.ops)
    ops[5] = C3
    assert NB101Arch.create(inception.matrix, ops).spec_hash() != INCEPTION_HASH
    m = [list(r) for r in inception.matrix]
    m[0][6] = 1  # 10 edges: outside the space, but the hash still sees the edge
    assert graph_hash(m, inception.ops) != INCEPTION_HASH


def test_topological_relabelling_same_canonical(nb101):
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = nb101.sample(rng)
        n = a.num_vertices
        if n < 4:
            continue
        # swap two interior vertices when no edge joins them: still upper-triangular
        for i in range(1, n - 2):
            j = i + 1
            if not a.matrix[i][j]:
                perm = list(range(n))
                perm[i], perm[j] = j, i
                m = [[a.matrix[perm[r]][perm[c]] for c in range(n)] for r in range(n)]
                b = NB101Arch.create(m, [a.ops[p] for p in perm])
                assert nb101.canonical(b) == nb101.canonical(a)
                break


# --------------------------------------------------------------------------- strings
def test_string_round_trip(nb101, inception):
    s = nb101.to_str(inception)
    assert " " not in s and json.loads(s) == {"matrix": INCEPTION_MATRIX, "ops": INCEPTION_OPS}
    assert nb101.from_str(s) == inception
    assert nb101.from_str(spec_json(INCEPTION_MATRIX, INCEPTION_OPS)) == inception
    assert nb101.parse("  " + s + "\n") == inception


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{matrix: 1}", "is not JSON"),
        ("[[0,1],[0,0]]", "exactly the keys 'matrix' and 'ops'"),
        ('{"matrix": [[0,1],[0,0]], "ops": ["input","output"], "x": 1}', "exactly the keys"),
        (spec_json([[0, 1], [1, 0]], ["input", "output"]), "not upper-triangular"),
        (spec_json([[1, 1], [0, 0]], ["input", "output"]), "not upper-triangular"),
        (spec_json([[0, 2], [0, 0]], ["input", "output"]),
         r"entry \[0\]\[1\] is 2; expected 0 or 1"),
        (spec_json([[0, True], [0, 0]], ["input", "output"]), "expected 0 or 1"),
        (spec_json([[0, 0.5], [0, 0]], ["input", "output"]), "expected 0 or 1"),
        (spec_json([[0]], ["input"]), "expected 2..7 vertices"),
        (spec_json([[0] * 8] * 8, ["input"] + [C3] * 6 + ["output"]), "expected 2..7 vertices"),
        (spec_json([[0, 1, 1], [0, 0]], ["input", "output"]), "must be square"),
        (spec_json([[0, 1], [0, 0]], ["input", C3, "output"]), "3 ops for a 2x2 matrix"),
        (spec_json([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"]),
         "unknown NB101 op 'conv5x5' at vertex 1"),
        (spec_json([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, "output"]),
         "first op must be 'input'"),
        (spec_json([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, C3]), "the last 'output'"),
        (spec_json([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"]),
         "no path from input to output"),
        (spec_json([[0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
                    [0, 0, 0, 0, 0, 0, 0]], ["input"] + [C3] * 5 + ["output"]),
         "15 edges after pruning; the benchmark allows at most 9"),
        (spec_json("x", ["input"]), "matrix must be a list of rows"),
        (spec_json([[0, 1], [0, 0]], "input output"), "ops must be a list of strings"),
    ],
)
def test_malformed_strings(text, fragment):
    with pytest.raises(ArchitectureError, match=fragment):
        arch_from_str(text)


@st.composite
def archs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    return NB101Space().sample(np.random.default_rng(seed))


@given(archs())
def test_property_round_trip(arch):
    s = arch_to_str(arch)
    assert arch_from_str(s) == arch
    assert arch_from_str(spec_json([list(r) for r in arch.matrix], list(arch.ops))) == arch


@settings(max_examples=300)
@given(archs(), st.integers(0, 400), st.text(min_size=0, max_size=3))
def test_property_corrupted_strings_error_or_valid(arch, pos, junk):
    s = arch_to_str(arch)
    pos = pos % (len(s) + 1)
    corrupted = s[:pos] + junk + s[pos + 1 :]
    try:
        parsed = arch_from_str(corrupted)
    except ArchitectureError as exc:
        assert str(exc)
    else:  # whatever is accepted is a valid pruned spec that round-trips
        assert isinstance(parsed, NB101Arch)
        assert arch_from_str(arch_to_str(parsed)) == parsed


@given(st.text(max_size=80))
def test_property_random_text_never_crashes(text):
    with contextlib.suppress(ArchitectureError):
        arch_from_str(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=8) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=60,
)


@given(json_values)
def test_property_random_json_never_crashes(obj):
    for text in (json.dumps(obj), json.dumps({"matrix": obj, "ops": obj}),
                 json.dumps({"matrix": obj, "ops": INCEPTION_OPS})):
        with contextlib.suppress(ArchitectureError):
            arch_from_str(text)


# --------------------------------------------------------------------------- values
def test_arch_value(inception):
    assert hash(inception) == hash(NB101Arch.create(INCEPTION_MATRIX, INCEPTION_OPS))
    with pytest.raises(AttributeError):
        inception.ops = ()  # type: ignore[misc]
    with pytest.raises(ArchitectureError, match="create"):
        NB101Arch(INCEPTION_MATRIX, tuple(INCEPTION_OPS))  # type: ignore[arg-type]
    assert NB101Arch.create(np.array(INCEPTION_MATRIX), INCEPTION_OPS) == inception


def test_sample_mutate_neighbours(nb101):
    rng1, rng2 = np.random.default_rng(11), np.random.default_rng(11)
    a = [nb101.sample(rng1) for _ in range(15)]
    assert a == [nb101.sample(rng2) for _ in range(15)]
    assert all(x.num_edges <= 9 and x.num_vertices <= 7 for x in a)
    rng, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for x in a:
        m = nb101.mutate(x, rng)
        assert m == nb101.mutate(x, rng_b)
        assert m.spec_hash() != x.spec_hash()
        nbrs = nb101.neighbours(x)
        hashes = [n.spec_hash() for n in nbrs]
        assert len(set(hashes)) == len(hashes) and x.spec_hash() not in hashes
        assert m in nbrs


def test_benchmark_mutation():
    bench = NB101Space(mutation="benchmark")
    x = bench.sample(np.random.default_rng(0))
    rng, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    in_neighbours = set()
    for _ in range(30):
        m = bench.mutate(x, rng)
        assert m == bench.mutate_benchmark(x, rng_b)
        assert m.spec_hash() != x.spec_hash() and m.num_edges <= 9
        # flips each edge with p = 1/7 and each op with p = 1/5: often several changes
        in_neighbours.add(m in bench.neighbours(x))
        x = m
    assert in_neighbours == {True, False}


def test_neighbours_of_inception(nb101, inception):
    nbrs = nb101.neighbours(inception)
    # 5 interior vertices x 2 other ops, all distinct graphs except the symmetric ones;
    # adding an edge gives 10 edges (invalid), removing one may disconnect a vertex
    ops_only = [n for n in nbrs if n.matrix == inception.matrix]
    assert 0 < len(ops_only) <= 10
    assert all(n.num_edges <= 9 for n in nbrs)


def test_sample_distribution_matches_the_benchmark_sampler(nb101):
    rng = np.random.default_rng(0)
    sizes = [nb101.sample(rng).num_vertices for _ in range(2000)]
    # pruned sizes of the 500 benchmark random-spec draws in the NB101-500 file: the sampler
    # favours small cells (2 vertices: 55, 3: 90, 4: 130, 5: 164, 6: 60, 7: 1)
    for n, count in {2: 55, 3: 90, 4: 130, 5: 164, 6: 60, 7: 1}.items():
        assert abs(sizes.count(n) / 2000 - count / 500) < 0.04


def test_neighbours_grow_small_cells(nb101):
    bare = nb101.from_str('{"matrix":[[0,1],[0,0]],"ops":["input","output"]}')
    nbrs = nb101.neighbours(bare)
    assert {n.num_vertices for n in nbrs} == {3}
    # input -> new -> output, keeping the input -> output edge, for each op
    assert sorted(n.ops[1] for n in nbrs) == sorted(OPS)
    assert all(n.matrix == ((0, 1, 1), (0, 0, 1), (0, 0, 0)) for n in nbrs)


def test_not_finite(nb101):
    assert not nb101.finite
    with pytest.raises(TypeError):
        len(nb101)


# --------------------------------------------------------------------------- graphs, networks
def test_graph(nb101, inception):
    g = nb101.to_graph(inception)
    assert g.ops == tuple(INCEPTION_OPS)
    assert set(g.edges) == {(s, t) for s in range(7) for t in range(7) if INCEPTION_MATRIX[s][t]}
    assert g.groups is None and g.adjacency().sum() == 9


def test_network_forward_small(nb101, inception):
    torch.manual_seed(0)
    for text in [nb101.to_str(inception)] + [c[2] for c in BENCHMARK_CELLS]:
        net = nb101.to_torch(nb101.from_str(text), num_classes=5, stem_channels=8, num_stacks=2,
                             num_modules=1)
        out = net(torch.randn(2, 3, 15, 15))  # odd size: TF 'same' pooling
        assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_network_structure(nb101, inception):
    net = nb101.to_torch(inception)
    assert net.stem[0].out_channels == 128 and net.classifier.in_features == 512
    pools = [m for m in net.layers if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2 and len(net.layers) == 11
    bn = net.stem[1]
    assert bn.momentum == pytest.approx(0.003) and bn.eps == 1e-5


def test_tf_init(nb101, inception):
    torch.manual_seed(0)
    net = nb101.to_torch(inception, stem_channels=16, num_stacks=1, num_modules=1, init="tf")
    w = net.stem[0].weight
    std = (1 / w[0].numel()) ** 0.5 / 0.87962566103423978
    assert w.abs().max() <= 2 * std + 1e-6
    assert torch.all(net.classifier.bias == 0)
    with pytest.raises(ArchitectureError, match="init"):
        nb101.to_torch(inception, init="kaiming")


def test_bad_options(nb101, inception):
    with pytest.raises(ArchitectureError):
        NB101Space(stem_channels=0)
    with pytest.raises(ArchitectureError):
        NB101Space(mutation_rate=0)
    with pytest.raises(ArchitectureError, match="mutation"):
        NB101Space(mutation="evolution")
    with pytest.raises(TypeError, match="unexpected"):
        nb101.to_torch(inception, C=16)
    with pytest.raises(ArchitectureError, match="NB101Arch"):
        nb101.to_str("x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- ground truth
def test_load_nb101_500(nb101_csv, nb101):
    gt = load_nb101_500(nb101_csv)
    assert gt.space == "nb101"
    assert "validation accuracy of one run, 500 architectures" in gt.description
    assert gt.extra["rows"] == "500" and gt.extra["unique"] == str(len(gt)) == "292"
    assert gt.extra["duplicates_merged"] == "208"
    hashes = {nb101.canonical(nb101.from_str(k)) for k in gt}
    assert len(hashes) == len(gt)
    assert all(nb101.to_str(nb101.from_str(k)) == k for k in gt)
    values = gt.column("cifar10")
    assert max(values.values()) == pytest.approx(94.7115, abs=1e-3)
    # the bare input -> output cell was drawn 55 times (three runs: 83.16, 83.46, 83.58)
    bare = '{"matrix":[[0,1],[0,0]],"ops":["input","output"]}'
    assert values[bare] == pytest.approx(83.5837, abs=1e-3)  # first row's run
    mean = load_nb101_500(data=nb101_csv.parent.parent, duplicates="mean")
    assert mean.order == gt.order
    assert 83.16 < mean.get(bare, "cifar10") < 83.58


@pytest.mark.parametrize(
    "lines, fragment",
    [
        (["matrix,ops,accuracy"], "header must be matrix,ops,val_accuracy"),
        (["matrix,ops,val_accuracy", '"[[0,1],[0,0]]","[""input"",""output""]",90',
          '"[[0,1],[0,0]","[""input"",""output""]",90'], "row 3: matrix and ops must be JSON"),
        (["matrix,ops,val_accuracy", '"[[0,0],[0,0]]","[""input"",""output""]",90'],
         "row 2: NB101 spec has no path from input to output"),
        (["matrix,ops,val_accuracy", '"[[0,1],[0,0]]","[""input"",""conv""]",90'],
         "row 2: .*the last 'output'"),
        (["matrix,ops,val_accuracy", '"[[0,1],[0,0]]","[""input"",""output""]",high'],
         "row 2: column 'val_accuracy' must be a number"),
        (["matrix,ops,val_accuracy", '"[[0,1],[0,0]]","[""input"",""output""]"'],
         "row 2: expected 3 columns"),
        (["matrix,ops,val_accuracy"], "has no rows"),
    ],
)
def test_load_nb101_500_malformed(tmp_path, lines, fragment):
    path = tmp_path / "nb101.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=fragment):
        load_nb101_500(path)


def test_load_nb101_500_duplicates_option_and_missing(tmp_path):
    path = tmp_path / "nb101.csv"
    path.write_text(
        "matrix,ops,val_accuracy\n"
        '"[[0,1,1],[0,0,0],[0,0,0]]","[""input"",""maxpool3x3"",""output""]",80\n'
        '"[[0,1],[0,0]]","[""input"",""output""]",90\n'
    )
    gt = load_nb101_500(path)
    assert len(gt) == 1 and gt.get('{"matrix":[[0,1],[0,0]],"ops":["input","output"]}',
                                   "cifar10") == 80
    assert load_nb101_500(path, duplicates="mean").get(gt.order[0], "cifar10") == 85
    with pytest.raises(DataError, match="duplicates"):
        load_nb101_500(path, duplicates="last")
    with pytest.raises(DataError, match="not found"):
        load_nb101_500(tmp_path / "nope.csv")


def test_ops_order_is_the_benchmarks():
    assert OPS == ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
