"""Image batches for data-dependent proxies: CIFAR-10 (official python format) or synthetic.

``--data`` takes ``cifar10`` (``$ZERONAS_DATA/cifar10/cifar-10-batches-py``), ``synthetic``
(Gaussian images, uniform random labels: no dataset needed), or a path to a folder in the
official CIFAR python format. Batches are drawn with an explicit seed, so the same protocol
always gives the same images.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zeronas.bench.paths import data_dir
from zeronas.errors import DataError

CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
"""The normalisation NAS-Bench-201 trained with."""

CIFAR10_DIR = "cifar10/cifar-10-batches-py"
_SPLITS = {"train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                     "data_batch_5"), "test": ("test_batch",)}


def _read_pickle(path: Path) -> dict[bytes, object]:
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise DataError(f"{str(path)!r} is not a CIFAR python batch file: {exc}") from exc
    if not isinstance(obj, dict) or b"data" not in obj or b"labels" not in obj:
        raise DataError(
            f"{str(path)!r} is not a CIFAR python batch file: expected a dict with b'data' and "
            "b'labels'"
        )
    return obj


@lru_cache(maxsize=4)
def _load_cifar_cached(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(root)
    names = [n for n in _SPLITS[split] if (folder / n).exists()]
    if not names:
        raise DataError(
            f"no CIFAR-10 {split} batches in {str(folder)!r}: expected "
            f"{' or '.join(_SPLITS[split][:2])}... in the official python format"
        )
    xs, ys = [], []
    for n in names:
        obj = _read_pickle(folder / n)
        x = np.asarray(obj[b"data"], dtype=np.uint8)
        y = np.asarray(obj[b"labels"], dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
            raise DataError(
                f"{str(folder / n)!r}: expected data of shape (N, 3072) and N labels, "
                f"got {x.shape} and {y.shape}"
            )
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{str(folder / n)!r}: CIFAR-10 labels must be in 0..9")
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10(
    root: str | os.PathLike[str] | None = None, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of a CIFAR-10 split as normalised float tensors ``(N, 3, 32, 32)`` + labels.

    ``root`` is the ``cifar-10-batches-py`` folder; default ``$ZERONAS_DATA/cifar10/...``.
    A folder with only some of the training batches (like the shipped sample) is fine.
    """
    if split not in _SPLITS:
        raise DataError(f"CIFAR-10 split {split!r} is unknown: expected 'train' or 'test'")
    folder = Path(root) if root is not None else data_dir() / CIFAR10_DIR
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder {str(folder)!r} not found")
    x, y = _load_cifar_cached(str(folder.resolve()), split)
    images = torch.from_numpy(x.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return (images - mean) / std, torch.from_numpy(y)


@dataclass(frozen=True)
class DataSpec:
    """Which images a proxy sees: ``cifar10``, ``synthetic`` or a CIFAR-format folder path."""

    source: str = "synthetic"
    split: str = "train"

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def describe(self) -> str:
        """A protocol string for results files."""
        return "synthetic Gaussian images, uniform labels" if self.is_synthetic else (
            f"{self.source} ({self.split} split)"
        )


def make_batches(
    spec: DataSpec,
    batch_size: int,
    num_batches: int,
    seed: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``num_batches`` batches of ``batch_size`` (images, labels), drawn with ``seed``.

    Real images are sampled without replacement across all batches; when ``input_shape``
    differs from 32x32 they are resized by area averaging. Labels outside ``num_classes``
    cannot happen for synthetic data; for CIFAR-10 on a network with fewer than 10 classes
    it is an error.
    """
    if batch_size < 1 or num_batches < 1:
        raise DataError(f"batch_size and batches must be >= 1, got {batch_size} and {num_batches}")
    gen = torch.Generator().manual_seed(int(seed))
    if spec.is_synthetic:
        out = []
        for _ in range(num_batches):
            x = torch.randn((batch_size, *input_shape), generator=gen)
            y = torch.randint(0, num_classes, (batch_size,), generator=gen)
            out.append((x, y))
        return out
    root = None if spec.source == "cifar10" else spec.source
    if root is not None and not Path(root).is_dir():
        raise DataError(
            f"--data {spec.source!r}: expected 'cifar10', 'synthetic' or a folder in the CIFAR "
            "python format"
        )
    images, labels = load_cifar10(root, spec.split)
    if num_classes < 10:
        raise DataError(f"CIFAR-10 labels need a network with >= 10 classes, got {num_classes}")
    need = batch_size * num_batches
    if need > len(images):
        raise DataError(f"asked for {need} images but the CIFAR-10 {spec.split} split has "
                        f"{len(images)}")
    idx = torch.randperm(len(images), generator=gen)[:need]
    x, y = images[idx], labels[idx]
    if tuple(x.shape[1:]) != tuple(input_shape):
        if x.shape[1] != input_shape[0]:
            raise DataError(f"CIFAR-10 has 3 channels; the network expects {input_shape}")
        x = F.adaptive_avg_pool2d(x, input_shape[1:])
    return [(x[i * batch_size:(i + 1) * batch_size].contiguous(),
             y[i * batch_size:(i + 1) * batch_size].contiguous()) for i in range(num_batches)]


def parse_data(value: str) -> DataSpec:
    """Parse a ``--data`` value into a :class:`DataSpec`."""
    if value in ("synthetic", "cifar10"):
        return DataSpec(value)
    if Path(value).expanduser().is_dir():
        return DataSpec(str(Path(value).expanduser()))
    raise DataError(
        f"--data {value!r}: expected 'cifar10', 'synthetic' or a folder in the CIFAR python format"
    )
