"""Ground truth and data loaders: real files when present, small generated fixtures always."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from zeronas.bench import DataSpec, load_cifar10, load_ground_truth, load_nb201, make_batches
from zeronas.bench.data import parse_data
from zeronas.bench.paths import data_dir
from zeronas.errors import DataError, UnknownNameError


def test_nb201_ground_truth_matches_index_order(nb201, nb201_csv):
    gt = load_nb201(nb201_csv)
    assert len(gt) == 15625
    assert list(gt.order) == [nb201.to_str(a) for a in nb201]
    c10 = gt.column("cifar10")
    best = max(c10, key=c10.get)
    assert nb201.index(nb201.from_str(best)) in (6111, 13714)
    assert c10[best] == pytest.approx(94.373, abs=1e-3)
    assert max(gt.column("cifar100").values()) == pytest.approx(73.513, abs=1e-3)
    assert max(gt.column("ImageNet16-120").values()) == pytest.approx(47.311, abs=1e-3)
    with pytest.raises(UnknownNameError, match="cifar10"):
        gt.column("cifar-10")


def test_load_ground_truth_from_env(data_dir, nb201_csv):
    gt = load_ground_truth("nb201")
    assert gt.get(gt.order[0], "cifar10") == pytest.approx(85.8633, abs=1e-3)


def _write(path, text):
    path.write_text(text)
    return path


def test_malformed_ground_truth(tmp_path):
    with pytest.raises(DataError, match="missing column"):
        load_nb201(_write(tmp_path / "a.csv", "a,b\n1,2\n"))
    header = ("CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,"
              "ImageNetTestAccuracy200Epochs,ArchitectureString\n")
    good = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(DataError, match="must be a number"):
        load_nb201(_write(tmp_path / "b.csv", header + f"x,1,2,{good}\n"))
    with pytest.raises(DataError, match="row 2"):
        load_nb201(_write(tmp_path / "c.csv", header + "1,1,2,|bad|\n"))
    with pytest.raises(DataError, match="duplicate"):
        load_nb201(_write(tmp_path / "d.csv", header + f"1,1,2,{good}\n1,1,2,{good}\n"))
    with pytest.raises(DataError, match="not found"):
        load_nb201(tmp_path / "missing.csv")
    gt = load_nb201(_write(tmp_path / "e.csv", header + f"1.5,2,3,{good}\n"))
    assert gt.get(good, "cifar100") == 2.0


def test_data_dir_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("ZERONAS_DATA", raising=False)
    with pytest.raises(DataError, match="ZERONAS_DATA"):
        data_dir()
    with pytest.raises(DataError, match="does not exist"):
        data_dir(tmp_path / "nope")
    assert data_dir(tmp_path) == tmp_path


def _fake_cifar(folder, n=40, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    with open(folder / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, fh, protocol=4)
    return data, labels


def test_cifar_loader_on_fixture(tmp_path):
    data, labels = _fake_cifar(tmp_path / "c")
    x, y = load_cifar10(tmp_path / "c")
    assert x.shape == (40, 3, 32, 32) and y.tolist() == labels
    # pixel (0, 0) of channel 1 of image 3, normalised by hand
    raw = data[3].reshape(3, 32, 32)[1, 0, 0] / 255.0
    assert x[3, 1, 0, 0].item() == pytest.approx((raw - 123.0 / 255) / (62.1 / 255), rel=1e-5)
    with pytest.raises(DataError, match="no CIFAR-10 test batches"):
        load_cifar10(tmp_path / "c", "test")


def test_cifar_loader_rejects_garbage(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a CIFAR python batch"):
        load_cifar10(tmp_path / "g")


def test_real_cifar_sample(cifar_dir):
    x, y = load_cifar10(cifar_dir)
    assert x.shape == (10000, 3, 32, 32)
    assert sorted(set(y.tolist())) == list(range(10))
    assert abs(x.mean().item()) < 0.2  # normalised


def test_make_batches_synthetic_deterministic():
    spec = DataSpec("synthetic")
    a = make_batches(spec, 4, 2, 7, (3, 8, 8), 5)
    b = make_batches(spec, 4, 2, 7, (3, 8, 8), 5)
    c = make_batches(spec, 4, 2, 8, (3, 8, 8), 5)
    assert len(a) == 2 and a[0][0].shape == (4, 3, 8, 8)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], c[0][0])
    assert int(a[0][1].max()) < 5


def test_make_batches_cifar_folder(tmp_path):
    _fake_cifar(tmp_path / "c", n=40)
    spec = parse_data(str(tmp_path / "c"))
    batches = make_batches(spec, 8, 3, 0, (3, 16, 16), 10)
    assert batches[0][0].shape == (8, 3, 16, 16)
    ids = torch.cat([x.flatten(1)[:, :4] for x, _ in batches])
    assert len({tuple(r.tolist()) for r in ids}) == 24  # drawn without replacement
    with pytest.raises(DataError, match="asked for 80 images"):
        make_batches(spec, 40, 2, 0, (3, 32, 32), 10)
    with pytest.raises(DataError, match="expected 'cifar10', 'synthetic'"):
        parse_data("imagenet")


def test_official_nats_loader_needs_extra(tmp_path):
    try:
        import nats_bench  # noqa: F401
    except ImportError:
        from zeronas.bench.groundtruth import load_nats_official

        with pytest.raises(DataError, match=r"zeronas\[nats\]"):
            load_nats_official(tmp_path)
    else:
        pytest.skip("nats_bench is installed; this checks the message when it is missing")
