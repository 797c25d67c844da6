"""Ground truth: trained accuracies of benchmark architectures.

A :class:`GroundTruth` maps canonical architecture strings to one number per dataset (or
task), with the direction (higher is better) and a description of what the number is, so that
every correlation can say exactly what it was measured against.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zeronas.bench.paths import data_file
from zeronas.errors import DataError, unknown_name

NB201_CSV = "nb201/nats_tss_200ep_test_accuracy.csv"
NB201_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}


@dataclass(frozen=True)
class GroundTruth:
    """Benchmark metrics keyed by canonical architecture string, one column per dataset.

    ``order`` keeps the file's row order (for NB201 this is the benchmark index order).
    """

    space: str
    metrics: Mapping[str, Mapping[str, float]]
    order: tuple[str, ...]
    description: str
    source: str
    higher_is_better: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        """The dataset (or task) names with values."""
        return list(self.metrics)

    def column(self, dataset: str) -> Mapping[str, float]:
        """``{arch string: value}`` for ``dataset``; an unknown one lists the valid names."""
        try:
            return self.metrics[dataset]
        except KeyError:
            raise unknown_name(
                f"{self.space} ground-truth dataset", dataset, self.metrics
            ) from None

    def get(self, arch: str, dataset: str) -> float | None:
        """The value of ``arch`` on ``dataset``, or None when the benchmark lacks it."""
        return self.column(dataset).get(arch)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __contains__(self, arch: object) -> bool:
        return arch in self.metrics[next(iter(self.metrics))]


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    """The rows of a ground-truth CSV, with a DataError naming the file when it is not text,
    not CSV, or lacks a ``required`` column."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(
                    f"{str(path)!r} is not the expected CSV: missing column(s) {missing}, "
                    f"found {header}"
                )
            return list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(path)!r} is not a text CSV file: {exc}") from exc
    except csv.Error as exc:
        raise DataError(f"{str(path)!r} is not a valid CSV file: {exc}") from exc


def _float(value: str, path: Path, row: int, column: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{str(path)!r} row {row}: column {column!r} must be a number, got {value!r}"
        ) from None
    if not math.isfinite(x):
        raise DataError(f"{str(path)!r} row {row}: column {column!r} is not finite ({value!r})")
    return x


def load_nb201(
    path: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None
) -> GroundTruth:
    """NAS-Bench-201 test accuracy (200 epochs, mean over seeds) of all 15,625 cells.

    ``path`` is the CSV itself; otherwise ``{data or $ZERONAS_DATA}/nb201/...csv``. The file has
    one row per architecture in the benchmark's index order.
    """
    from zeronas.spaces.nb201 import arch_from_str, arch_to_str

    csv_path = Path(path) if path is not None else data_file(NB201_CSV, data)
    if not csv_path.is_file():
        raise DataError(f"NB201 ground-truth file {str(csv_path)!r} not found")
    rows = _read_csv(csv_path, ["ArchitectureString", *NB201_COLUMNS.values()])
    metrics: dict[str, dict[str, float]] = {d: {} for d in NB201_COLUMNS}
    order: list[str] = []
    for i, row in enumerate(rows, start=2):
        try:
            arch = arch_to_str(arch_from_str(row["ArchitectureString"]))
        except ValueError as exc:
            raise DataError(f"{str(csv_path)!r} row {i}: {exc}") from None
        if arch in metrics["cifar10"]:
            raise DataError(f"{str(csv_path)!r} row {i}: duplicate architecture {arch}")
        order.append(arch)
        for d, col in NB201_COLUMNS.items():
            metrics[d][arch] = _float(row[col], csv_path, i, col)
    return GroundTruth(
        space="nb201",
        metrics=metrics,
        order=tuple(order),
        description="test accuracy (%) after 200 epochs, mean over the benchmark's seeds "
        "(NATS-Bench TSS, hp=200; cifar10 trained on train+valid)",
        source=str(csv_path),
    )


def load_nats_official(
    path: str | os.PathLike[str], hp: str = "200"
) -> GroundTruth:
    """Read the official NATS-Bench topology archive with the ``nats_bench`` package.

    ``path`` is the benchmark file or folder a user downloaded (e.g.
    ``NATS-tss-v1_0-3ffb9-simple``). Needs ``pip install zeronas[nats]``.
    """
    try:
        from nats_bench import create  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DataError(
            "reading the official NATS-Bench files needs the 'nats' extra: "
            "pip install 'zeronas[nats]'"
        ) from exc
    from zeronas.spaces.nb201 import arch_to_str, benchmark_order

    if not Path(path).exists():
        raise DataError(f"NATS-Bench file {str(path)!r} not found")
    api = create(str(path), "tss", fast_mode=True, verbose=False)
    metrics: dict[str, dict[str, float]] = {d: {} for d in NB201_COLUMNS}
    order = [arch_to_str(a) for a in benchmark_order()]
    for i, arch in enumerate(order):
        for d in NB201_COLUMNS:
            info = api.get_more_info(i, d, hp=hp, is_random=False)
            metrics[d][arch] = float(info["test-accuracy"])
    return GroundTruth(
        space="nb201",
        metrics=metrics,
        order=tuple(order),
        description=f"test accuracy (%) after {hp} epochs, mean over seeds (official NATS-Bench)",
        source=str(path),
    )


def _load_darts(data: str | os.PathLike[str] | None = None) -> GroundTruth:
    from zeronas.bench.gt_darts_nb101 import load_darts1000

    return load_darts1000(data=data)


def _load_nb101(data: str | os.PathLike[str] | None = None) -> GroundTruth:
    from zeronas.bench.gt_darts_nb101 import load_nb101_500

    return load_nb101_500(data=data)


def _load_tnb101_micro(data: str | os.PathLike[str] | None = None) -> GroundTruth:
    from zeronas.bench.gt_tnb101 import load_tnb101_micro

    return load_tnb101_micro(data=data)


def _load_tnb101_macro(data: str | os.PathLike[str] | None = None) -> GroundTruth:
    from zeronas.bench.gt_tnb101 import load_tnb101_macro

    return load_tnb101_macro(data=data)


_LOADERS = {"nb201": load_nb201, "darts": _load_darts, "nb101": _load_nb101,
            "tnb101_micro": _load_tnb101_micro, "tnb101_macro": _load_tnb101_macro}


def check_has_ground_truth(space: str) -> None:
    """Raise a one-line :class:`UnknownNameError`-style error when ``space`` has no ground
    truth loader (before any work, so the user hears the real reason first)."""
    if space not in _LOADERS:
        raise unknown_name("space with ground truth", space, _LOADERS)


def load_ground_truth(
    space: str, data: str | os.PathLike[str] | None = None
) -> GroundTruth:
    """The ground truth of ``space`` from the data directory (argument or ``$ZERONAS_DATA``)."""
    check_has_ground_truth(space)
    return _LOADERS[space](data=data)
