"""The command line: JSON output, tables, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zeronas.cli import app

runner = CliRunner()


def test_score_json_benchmark_numbers():
    res = runner.invoke(app, ["score", "--space", "nb201", "--index", "13714",
                              "--proxies", "flops,params", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["space"] == "nb201" and out["index"] == 13714
    assert out["arch"].startswith("|nor_conv_3x3~0|+")
    assert out["scores"]["flops"] == pytest.approx(153.27, abs=0.01)
    assert out["scores"]["params"] == pytest.approx(1.073, abs=0.001)


def test_score_by_string_and_table():
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|" \
           "nor_conv_3x3~2|"
    res = runner.invoke(app, ["score", "--arch", arch, "--dataset", "ImageNet16-120"])
    assert res.exit_code == 0, res.output
    assert "38.32" in res.stdout and "13714" in res.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["score", "--index", "15625"], "out of range"),
        (["score", "--arch", "|bad|"], "malformed NB201 string"),
        (["score", "--index", "1", "--proxies", "flop"], "Did you mean 'flops'"),
        (["score", "--index", "1", "--space", "nb2"], "unknown space"),
        (["score"], "exactly one of"),
        (["score", "--index", "1", "--dataset", "cifar"], "unknown dataset"),
        (["score", "--index", "1", "--proxies", "params,params"], "listed twice"),
        (["correlate", "--space", "mbv2", "--store", "/nonexistent/dir/s.sqlite"],
         "space with ground truth"),
    ],
)
def test_errors_are_one_line_exit_2(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in res.output


def test_spaces_and_proxies_json():
    res = runner.invoke(app, ["spaces", "--json"])
    assert res.exit_code == 0
    spaces = {r["name"]: r for r in json.loads(res.stdout)}
    assert spaces["nb201"]["size"] == 15625 and "cifar10" in spaces["nb201"]["datasets"]
    res = runner.invoke(app, ["proxies", "--json"])
    names = {r["name"]: r for r in json.loads(res.stdout)}
    assert names["flops"]["unit"] == "M multiply-adds"
    assert names["params"]["unit"] == "M parameters"
