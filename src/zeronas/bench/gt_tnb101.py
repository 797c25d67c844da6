"""Ground truth of the TransNAS-Bench-101 spaces: every architecture, seven tasks.

``transnas101/micro.csv`` (4,096 rows) and ``transnas101/macro.csv`` (3,256 rows) under the data
directory hold, per API string, each task's final-epoch **validation** metric (NASLib's export of
the official API; see the folder's ``SOURCES.md``):

- ``class_scene``, ``class_object``, ``jigsaw``: top-1 accuracy (%);
- ``room_layout``: the negative L2 loss (higher is better; stored negative);
- ``segmentsemantic``: pixel accuracy (%);
- ``normal``, ``autoencoder``: SSIM (0-1).

Every metric is higher-is-better as stored. The result is keyed by the space's canonical
string (the API string), so ``space.from_str(key)`` gives the architecture back; rows keep the
file's order, which is the spaces' index order.
"""

from __future__ import annotations

import os
from pathlib import Path

from zeronas.bench.groundtruth import GroundTruth, _float, _read_csv
from zeronas.bench.paths import data_file
from zeronas.errors import ArchitectureError, DataError

MICRO_CSV = "transnas101/micro.csv"
MACRO_CSV = "transnas101/macro.csv"
TASK_METRICS: dict[str, str] = {
    "class_scene": "top-1 accuracy (%)",
    "class_object": "top-1 accuracy (%)",
    "jigsaw": "top-1 accuracy (%)",
    "room_layout": "negative L2 loss (higher is better)",
    "segmentsemantic": "pixel accuracy (%)",
    "normal": "SSIM",
    "autoencoder": "SSIM",
}
"""The seven task columns and what each holds (the final-epoch validation value)."""


def _load(
    which: str, path: str | os.PathLike[str] | None, data: str | os.PathLike[str] | None
) -> GroundTruth:
    from zeronas.spaces import get_space

    space = get_space(f"tnb101_{which}")
    relative = MICRO_CSV if which == "micro" else MACRO_CSV
    csv_path = Path(path) if path is not None else data_file(relative, data)
    if not csv_path.is_file():
        raise DataError(f"TransNAS-Bench-101 {which} ground-truth file {str(csv_path)!r} not found")
    rows = _read_csv(csv_path, ["arch", *TASK_METRICS])
    metrics: dict[str, dict[str, float]] = {t: {} for t in TASK_METRICS}
    order: list[str] = []
    for i, row in enumerate(rows, start=2):
        try:
            key = space.to_str(space.from_str(row["arch"] or ""))
        except ArchitectureError as exc:
            raise DataError(f"{str(csv_path)!r} row {i}: {exc}") from None
        if key in metrics["class_scene"]:
            raise DataError(f"{str(csv_path)!r} row {i}: duplicate architecture {key}")
        order.append(key)
        for task in TASK_METRICS:
            metrics[task][key] = _float(row[task], csv_path, i, task)
    if not order:
        raise DataError(f"{str(csv_path)!r} has no rows")
    return GroundTruth(
        space=space.name,
        metrics=metrics,
        order=tuple(order),
        description=f"TransNAS-Bench-101 {which} space, final-epoch validation metric of the "
        "task: " + "; ".join(f"{t} {m}" for t, m in TASK_METRICS.items())
        + " (NASLib's export of the official API)",
        source=str(csv_path),
        extra={"rows": str(len(order)), "space_size": str(len(space)),
               **{f"metric_{t}": m for t, m in TASK_METRICS.items()}},
    )


def load_tnb101_micro(
    path: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None
) -> GroundTruth:
    """All 4,096 micro cells: ``path`` is the CSV itself; otherwise
    ``{data or $ZERONAS_DATA}/transnas101/micro.csv``. A malformed or repeated architecture
    string, a missing column or a non-numeric value raises DataError naming the row."""
    return _load("micro", path, data)


def load_tnb101_macro(
    path: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None
) -> GroundTruth:
    """All 3,256 macro skeletons: ``path`` is the CSV itself; otherwise
    ``{data or $ZERONAS_DATA}/transnas101/macro.csv``. Errors as for the micro file."""
    return _load("macro", path, data)
