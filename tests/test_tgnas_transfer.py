"""The TG-NAS leave-one-space-out matrix (`zeronas transfer-matrix`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from zeronas.cli import app
from zeronas.errors import DataError, ZeronasError
from zeronas.hardware.measures import count_params
from zeronas.predictors.tgnas.predictor import (
    Predictor,
    read_weights,
    save_weights,
    shipped_weights,
)
from zeronas.predictors.tgnas.training import TrainSettings, load_group
from zeronas.predictors.tgnas.transfer import (
    DEFAULT_SPACES,
    SCALE_GRID,
    graph_families,
    parse_spaces,
    planned_training_sets,
    score_parts,
    select_learned_scale,
    transfer_matrix,
)
from zeronas.proxies.runner import build_network
from zeronas.spaces import get_space

QUICK = TrainSettings(max_epochs=3, patience=2)
SPACES = {"darts": "cifar10", "tnb101_macro": "class_scene", "tnb101_micro": "class_scene"}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("transfer")
    steps: list[str] = []
    result = transfer_matrix(SPACES, eval_sample=40, data=data_dir, weights_dir=out / "w",
                             settings=QUICK, command="test", on_step=steps.append)
    return result, out, steps


def test_matrix_layout_and_honest_diagonal(matrix):
    result, _, steps = matrix
    assert result.spaces == list(SPACES) and result.spearman.shape == (3, 3)
    assert np.isfinite(result.spearman).all() and np.isfinite(result.kendall).all()
    assert result.eval_n == {"darts": 40, "tnb101_macro": 40, "tnb101_micro": 40}
    # the diagonal is the held-out split of the row's own training run (10% of the space)
    assert result.diagonal_n == {"darts": 100, "tnb101_macro": 326, "tnb101_micro": 410}
    assert result.leave_one_out["darts"]["trained_on"] == ["tnb101_macro", "tnb101_micro"]
    assert result.leave_one_out["tnb101_micro"]["trained_on"] == ["darts", "tnb101_macro"]
    # three spaces: the inner folds train on one space each, i.e. reuse the rows
    assert len(steps) == 3 * 3 + 1
    # the command's progress bar counts the same steps
    assert len(steps) == len(SPACES) + len(planned_training_sets(list(SPACES), True, True))
    summary = result.summary()
    diff = result.leave_one_out["darts"]["spearman"] - result.params["darts"]["spearman"]
    assert summary["spearman_minus_params"]["darts"] == pytest.approx(diff)
    assert summary["worst_loss_to_params"] <= 0.0


def test_params_column_is_the_parameter_count(matrix, data_dir):
    """The params baseline is Spearman of the real parameter count on the same sample."""
    from scipy.stats import spearmanr

    result, _, _ = matrix
    _, space, archs = load_group("darts", "cifar10", data_dir)
    group = load_group("darts", "cifar10", data_dir)[0]
    idx = np.sort(np.random.default_rng(0).choice(len(archs), size=40, replace=False))
    counts = [count_params(build_network(space, archs[i], "cifar10", 0, meta=True)) for i in idx]
    rho = spearmanr(counts, group.targets[idx]).statistic
    assert result.params["darts"]["spearman"] == pytest.approx(rho)


def test_weights_record_what_they_never_saw(matrix):
    _, out, _ = matrix
    for space in SPACES:
        _, meta = read_weights(out / "w" / f"tgnas_loo_{space}.pt")
        assert space not in meta["spaces"] and meta["command"] == "test"
    _, meta = read_weights(out / "w" / "tgnas_all.pt")
    assert meta["spaces"] == list(SPACES) and meta["datasets"] == SPACES


def test_json_and_plot(matrix, tmp_path):
    result, _, _ = matrix
    path = result.write(tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["matrix"]["spearman"][0][1] == result.spearman[0, 1]
    assert "held-out" in data["protocol"]["eval_note"]
    pytest.importorskip("matplotlib")
    assert result.plot(tmp_path / "m.json").suffix == ".png"


def test_parse_spaces_and_bad_input():
    assert parse_spaces("nb201, darts:cifar10") == {"nb201": "cifar10", "darts": "cifar10"}
    assert set(parse_spaces(",".join(DEFAULT_SPACES))) == set(DEFAULT_SPACES)
    with pytest.raises(ZeronasError, match="listed twice"):
        parse_spaces("nb201,nb201")
    with pytest.raises(ZeronasError, match="give a dataset"):
        parse_spaces("nats_sss")
    with pytest.raises(ZeronasError, match="at least two"):
        transfer_matrix({"nb201": "cifar10"})
    res = CliRunner().invoke(app, ["transfer-matrix", "--spaces", "nb201"])
    assert res.exit_code == 2 and "at least two" in res.output


def test_learned_scale_is_chosen_inside_the_training_spaces(matrix):
    """Each leave-one-out entry's scale maximises the worst inner fold's margin over params,
    the folds being its training spaces only; at scale 1 it is the plain predictor."""
    result, out, _ = matrix
    for s, entry in result.leave_one_out.items():
        table = entry["selection"]
        assert set(table["spearman"]) == set(entry["trained_on"]) and s not in table["spearman"]
        worst = {a: min(table["spearman"][h][f"{a:g}"] - table["params_spearman"][h]
                        for h in entry["trained_on"]) for a in SCALE_GRID}
        assert entry["learned_scale"] in SCALE_GRID
        assert worst[entry["learned_scale"]] == pytest.approx(max(worst.values()))
        # inner fold h: the predictor trained on the other training space, i.e. that row
        other = list(entry["trained_on"])
        for h in other:
            row = result.spaces.index(next(o for o in other if o != h))
            assert table["spearman"][h]["1"] == pytest.approx(
                result.spearman[row, result.spaces.index(h)])
        model, meta = read_weights(out / "w" / f"tgnas_loo_{s}.pt")
        assert model.learned_scale == meta["learned_scale"] == entry["learned_scale"]
        assert "unscaled" in entry and np.isfinite(entry["unscaled"]["spearman"])
    # the predictor of every space: its inner folds are the leave-one-out predictors
    _, meta = read_weights(out / "w" / "tgnas_all.pt")
    assert meta["learned_scale"] == result.all_spaces["learned_scale"]
    for s, entry in result.leave_one_out.items():
        assert result.all_spaces["selection"]["spearman"][s]["1"] == pytest.approx(
            entry["unscaled"]["spearman"])


def test_select_learned_scale_by_hand():
    """truth 1..4; cost agrees, learned (x10) disagrees: cost + a * learned rises while
    a < 0.1, falls beyond, so every grid factor below 0.1 ranks perfectly; ties go up."""
    truth = np.array([1.0, 2, 3, 4])
    agree = {"cost": truth, "learned": 10 * truth[::-1], "truth": truth, "params_spearman": 0.5}
    scale, table = select_learned_scale({"a": agree})
    assert scale == 1 / 16
    assert table["spearman"]["a"]["0"] == pytest.approx(1.0)
    assert table["spearman"]["a"]["0.125"] == pytest.approx(-1.0)
    assert table["worst_margin"]["0.0625"] == pytest.approx(0.5)
    # the mirror fold wants a > 0.1; every factor then has worst margin -1.5: largest wins
    mirror = {"cost": truth[::-1], "learned": 10 * truth, "truth": truth, "params_spearman": 0.5}
    assert select_learned_scale({"a": agree, "b": mirror})[0] == 1.0
    # a fold that is easy whatever the factor does not move the choice
    easy = {**mirror, "params_spearman": -3.0}
    assert select_learned_scale({"a": agree, "b": easy})[0] == 1 / 16
    with pytest.raises(ZeronasError, match="at least one inner fold"):
        select_learned_scale({})
    with pytest.raises(ZeronasError, match=r"'n'.*params' Spearman is nan"):
        select_learned_scale({"a": agree, "n": {**agree, "params_spearman": float("nan")}})
    with pytest.raises(ZeronasError, match=r"'c'.*constant"):
        select_learned_scale({"c": {**agree, "truth": np.ones(4)}})


def test_score_parts_and_weight_files_carry_the_scale(tmp_path):
    """score = cost + a * learned for every a; a weight file's metadata sets the scale."""
    space = get_space("nb201")
    archs = [space.sample(np.random.default_rng(i)) for i in range(12)]
    model, meta = read_weights(shipped_weights()["darts"])
    pred = Predictor(model, meta)
    full = pred.predict(space, archs)
    model.learned_scale = 0.25
    try:
        cost, learned = score_parts(pred, space, archs)
        assert model.learned_scale == 0.25  # restored, not reset
    finally:
        model.learned_scale = 1.0
    assert np.ptp(learned) > 0 and np.ptp(cost) > 0
    np.testing.assert_allclose(cost + learned, full, rtol=1e-6, atol=1e-6)
    path = save_weights(tmp_path / "s.pt", model, {**meta, "learned_scale": 0.25})
    scaled, _ = read_weights(path)
    assert scaled.learned_scale == 0.25
    np.testing.assert_allclose(Predictor(scaled).predict(space, archs), cost + 0.25 * learned,
                               rtol=1e-5, atol=1e-6)
    for bad in (-1.0, "x", True, float("nan")):
        path = save_weights(tmp_path / "bad.pt", model, {**meta, "learned_scale": bad})
        with pytest.raises(DataError, match="learned_scale"):
            read_weights(path)


def test_graph_families_hold_out_identical_graphs_together(data_dir):
    """NB201 cells and TransNAS-Bench-101 micro cells give the same graphs, so an inner fold
    that holds out one of them holds out both (training on the other would have seen every
    graph of the held-out space)."""
    nb201, micro = get_space("nb201"), get_space("tnb101_micro")
    for code in ("64-41414-3_33_333", "64-41414-0_12_301", "64-41414-1_01_022"):
        cell = micro.from_str(code)
        twin = nb201.from_str("|" + "|+|".join(
            "|".join(f"{op}~{j}" for j, op in enumerate(ops)) for ops in
            ((cell_op(micro, cell, 0),), (cell_op(micro, cell, 1), cell_op(micro, cell, 2)),
             (cell_op(micro, cell, 3), cell_op(micro, cell, 4), cell_op(micro, cell, 5))))
            + "|")
        assert micro.to_graph(cell) == nb201.to_graph(twin)
    assert graph_families(["nb201", "darts", "tnb101_micro"]) == {
        "nb201": "nb201-cell", "darts": "darts", "tnb101_micro": "nb201-cell"}
    # one family only: nothing to hold out across families, each space is its own fold
    assert graph_families(["nb201", "tnb101_micro"]) == {"nb201": "nb201",
                                                         "tnb101_micro": "tnb101_micro"}
    result = transfer_matrix({"darts": "cifar10", "nb201": "cifar10",
                              "tnb101_micro": "class_scene"}, eval_sample=40, data=data_dir,
                             settings=QUICK)
    # leave-one-out for darts: its folds hold out {nb201, micro} together, so there is no
    # fold left to train on, and each space is its own fold (one family)
    folds = result.leave_one_out["darts"]["selection"]["folds_trained_on"]
    assert folds == {"nb201": ["tnb101_micro"], "tnb101_micro": ["nb201"]}
    # the predictor of all three: holding out nb201 holds out micro too
    folds = result.all_spaces["selection"]["folds_trained_on"]
    assert folds == {"darts": ["nb201", "tnb101_micro"], "nb201": ["darts"],
                     "tnb101_micro": ["darts"]}
    assert planned_training_sets(["darts", "nb201", "tnb101_micro"]) == [
        ("darts",), ("nb201",), ("tnb101_micro",), ("nb201", "tnb101_micro"),
        ("darts", "tnb101_micro"), ("darts", "nb201")]


def cell_op(space, cell, edge: int) -> str:
    """The operator on ``edge`` of a micro ``cell``, read off its graph (node ``edge + 1``)."""
    return space.to_graph(cell).ops[edge + 1]
