"""The TG-NAS leave-one-space-out matrix (`zeronas transfer-matrix`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from zeronas.cli import app
from zeronas.errors import ZeronasError
from zeronas.hardware.measures import count_params
from zeronas.predictors.tgnas.predictor import read_weights
from zeronas.predictors.tgnas.training import TrainSettings, load_group
from zeronas.predictors.tgnas.transfer import DEFAULT_SPACES, parse_spaces, transfer_matrix
from zeronas.proxies.runner import build_network

QUICK = TrainSettings(max_epochs=3, patience=2)
SPACES = {"darts": "cifar10", "tnb101_macro": "class_scene"}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("transfer")
    steps: list[str] = []
    result = transfer_matrix(SPACES, eval_sample=40, data=data_dir, weights_dir=out / "w",
                             settings=QUICK, command="test", on_step=steps.append)
    return result, out, steps


def test_matrix_layout_and_honest_diagonal(matrix):
    result, _, steps = matrix
    assert result.spaces == list(SPACES) and result.spearman.shape == (2, 2)
    assert np.isfinite(result.spearman).all() and np.isfinite(result.kendall).all()
    assert result.eval_n == {"darts": 40, "tnb101_macro": 40}
    # the diagonal is the held-out split of the row's own training run (10% of the space)
    assert result.diagonal_n == {"darts": 100, "tnb101_macro": 326}
    assert result.leave_one_out["darts"]["trained_on"] == ["tnb101_macro"]
    assert result.leave_one_out["tnb101_macro"]["trained_on"] == ["darts"]
    assert len(steps) == 3 * 2 + 1
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
