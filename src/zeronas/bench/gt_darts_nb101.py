"""Ground truth of the DARTS and NAS-Bench-101 spaces from the shipped benchmark samples.

- :func:`load_darts1000`: ``darts-1000/DARTS_archs_CIFAR10.csv`` (SWAP's DARTS-1000 set).
- :func:`load_nb101_500`: ``nb101-500/nb101_500_cifar10.csv`` (500 NAS-Bench-101 rows from
  NASLib's zero-cost export).

Both return a :class:`~zeronas.bench.groundtruth.GroundTruth` keyed by the space's canonical
string, so ``space.from_str(key)`` gives the architecture back. See each file's ``SOURCES.md``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from zeronas.bench.groundtruth import GroundTruth, _float
from zeronas.bench.paths import data_file
from zeronas.errors import ArchitectureError, DataError

DARTS1000_CSV = "darts-1000/DARTS_archs_CIFAR10.csv"
NB101_500_CSV = "nb101-500/nb101_500_cifar10.csv"
NB101_COLUMNS = ("matrix", "ops", "val_accuracy")


def _resolve(path: str | os.PathLike[str] | None, data: str | os.PathLike[str] | None,
             relative: str, what: str) -> Path:
    csv_path = Path(path) if path is not None else data_file(relative, data)
    if not csv_path.is_file():
        raise DataError(f"{what} ground-truth file {str(csv_path)!r} not found")
    return csv_path


def _rows(csv_path: Path) -> list[list[str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(csv_path)!r} is not a text CSV file: {exc}") from exc
    except csv.Error as exc:
        raise DataError(f"{str(csv_path)!r} is not a valid CSV file: {exc}") from exc


def load_darts1000(
    path: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None
) -> GroundTruth:
    """CIFAR-10 validation accuracy (%) of 1,000 random DARTS genotypes (SWAP's DARTS-1000).

    ``path`` is the CSV itself; otherwise ``{data or $ZERONAS_DATA}/darts-1000/...csv``. The
    file has no header: column 1 the ``Genotype(...)`` string, column 2 the accuracy. Rows are
    keyed by the canonical genotype string (equal to the file's own string for the shipped
    file); a malformed row or an exactly repeated genotype raises DataError naming the row.
    """
    from zeronas.spaces.darts import genotype_from_str, genotype_to_str

    csv_path = _resolve(path, data, DARTS1000_CSV, "DARTS-1000")
    metrics: dict[str, float] = {}
    order: list[str] = []
    duplicated_inputs = 0
    for i, row in enumerate(_rows(csv_path), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != 2:
            raise DataError(
                f"{str(csv_path)!r} row {i}: expected 2 columns (genotype, accuracy), "
                f"got {len(row)}"
            )
        try:
            genotype = genotype_from_str(row[0])
        except ArchitectureError as exc:
            raise DataError(f"{str(csv_path)!r} row {i}: {exc}") from None
        key = genotype_to_str(genotype)
        if key in metrics:
            raise DataError(f"{str(csv_path)!r} row {i}: duplicate genotype {key}")
        duplicated_inputs += genotype.has_duplicate_inputs()
        metrics[key] = _float(row[1], csv_path, i, "accuracy")
        order.append(key)
    if not order:
        raise DataError(f"{str(csv_path)!r} has no rows")
    return GroundTruth(
        space="darts",
        metrics={"cifar10": metrics},
        order=tuple(order),
        description="CIFAR-10 validation accuracy (%) after 200 epochs of a reduced training "
        "recipe (SWAP's DARTS-1000 set); random genotypes with normal cell = reduction cell, "
        "values 10-87%, well below what the DARTS paper's recipe reaches",
        source=str(csv_path),
        extra={
            "rows": str(len(order)),
            "rows_with_a_node_fed_twice_by_one_node": str(duplicated_inputs),
        },
    )


def load_nb101_500(
    path: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None,
    duplicates: str = "first",
) -> GroundTruth:
    """CIFAR-10 validation accuracy (%, 108 epochs, one random run) of 500 NB101 rows.

    ``path`` is the CSV itself; otherwise ``{data or $ZERONAS_DATA}/nb101-500/...csv``. The
    file's matrices are unpruned (they are the benchmark's random-spec draws); each is pruned
    and keyed by the canonical JSON of its pruned spec. Rows whose pruned cells are the same
    graph (same benchmark hash; the benchmark's sampler often draws the same small cells) are
    one architecture: ``duplicates="first"`` keeps the first row's value (one run, as the file
    states), ``"mean"`` averages the rows' values (different rows may hold different runs).
    The counts are in ``extra``. A malformed row raises DataError naming the row.
    """
    from zeronas.spaces.nb101 import NB101Arch, arch_to_str

    if duplicates not in ("first", "mean"):
        raise DataError(f"duplicates must be 'first' or 'mean', got {duplicates!r}")
    csv_path = _resolve(path, data, NB101_500_CSV, "NB101-500")
    rows = _rows(csv_path)
    if not rows or [c.strip() for c in rows[0]] != list(NB101_COLUMNS):
        found = rows[0] if rows else []
        raise DataError(
            f"{str(csv_path)!r} is not the expected CSV: header must be "
            f"{','.join(NB101_COLUMNS)}, found {found}"
        )
    values: dict[str, list[float]] = {}
    key_of_hash: dict[str, str] = {}
    order: list[str] = []
    n_rows = 0
    for i, row in enumerate(rows[1:], start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(NB101_COLUMNS):
            raise DataError(
                f"{str(csv_path)!r} row {i}: expected {len(NB101_COLUMNS)} columns "
                f"({', '.join(NB101_COLUMNS)}), got {len(row)}"
            )
        try:
            matrix, ops = json.loads(row[0]), json.loads(row[1])
        except ValueError as exc:
            raise DataError(
                f"{str(csv_path)!r} row {i}: matrix and ops must be JSON ({exc})"
            ) from None
        try:
            arch = NB101Arch.create(matrix, ops, where=f"row {i}")
        except ArchitectureError as exc:
            raise DataError(f"{str(csv_path)!r} row {i}: {exc}") from None
        value = _float(row[2], csv_path, i, "val_accuracy")
        n_rows += 1
        h = arch.spec_hash()
        if h not in key_of_hash:
            key_of_hash[h] = arch_to_str(arch)
            order.append(key_of_hash[h])
            values[key_of_hash[h]] = []
        values[key_of_hash[h]].append(value)
    if not order:
        raise DataError(f"{str(csv_path)!r} has no rows")
    if duplicates == "first":
        metrics = {k: v[0] for k, v in values.items()}
        how = "the first row's value kept"
    else:
        metrics = {k: sum(v) / len(v) for k, v in values.items()}
        how = "values of repeated rows averaged"
    return GroundTruth(
        space="nb101",
        metrics={"cifar10": metrics},
        order=tuple(order),
        description=f"CIFAR-10 validation accuracy (%) after 108 epochs, validation accuracy of "
        f"one run, 500 architectures (NASLib's NAS-Bench-101 sample; {len(order)} distinct "
        f"cells after pruning, {n_rows - len(order)} repeated rows merged by graph hash, "
        f"{how})",
        source=str(csv_path),
        extra={
            "rows": str(n_rows),
            "unique": str(len(order)),
            "duplicates_merged": str(n_rows - len(order)),
            "duplicates": duplicates,
        },
    )
