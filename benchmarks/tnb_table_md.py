"""Render the TransNAS-Bench-101 proxy tables of the README from `benchmarks/tnb_table.sh`'s
results: one column per (space, task) that has a result, one row per proxy, each cell
"Kendall [95 % CI] / Spearman [95 % CI]" (grasp and zen from the 30-architecture part, marked n=30;
tgnas once per kind of weights, read off each result's protocol).

    .venv/bin/python benchmarks/tnb_table_md.py [results/repro/tnb_table [PROXY,PROXY...]]
    .venv/bin/python benchmarks/tnb_table_md.py --merge README.md results/repro/tnb_table grasp,zen

Reads only the JSON files the script wrote; prints Markdown to stdout. A (space, task) whose
cheap part has not finished is left out, and the missing ones are listed after the table.
``--merge README.md`` instead writes the cells it has results for into the README's
every-task table, keeping the cells measured in earlier sessions, and lists what changed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

SPACES = ("tnb101_micro", "tnb101_macro")
TASKS = ("class_scene", "class_object", "jigsaw", "room_layout", "segmentsemantic", "normal",
         "autoencoder")
ROWS = ("params", "flops", "synflow", "zen", "naswot", "snip", "grad_norm", "fisher",
        "fisher_released", "grasp", "zico", "tgnas")


def _num(x: float, digits: int = 3) -> str:
    """Decimals without the leading zero and a typographic minus, the README's style."""
    text = f"{x:.{digits}f}"
    text = text.replace("0.", ".", 1) if abs(x) < 1 else text
    return text.replace("-", "\N{MINUS SIGN}")


def _constant(csv_path: Path, proxy: str) -> float | None:
    """The one value ``proxy`` gave every architecture in the run's CSV, if it did (results
    written before ``constant_value`` was recorded)."""
    import csv

    if not csv_path.exists():
        return None
    with open(csv_path, newline="") as fh:
        values = {row[proxy] for row in csv.DictReader(fh) if proxy in row}
    return float(values.pop()) if len(values) == 1 else None


def cell(result: dict, n: int, constant: float | None = None) -> str:
    """One table cell for a proxy's result."""
    constant = result.get("constant_value", constant)
    if constant is not None:
        return f"{constant:g} for every network"
    k, s = result["kendall"], result["spearman"]
    if math.isnan(k):
        return "NaN"
    def interval(key: str) -> str:
        ci = result.get(key)
        return f" [{_num(ci[0], 2)}, {_num(ci[1], 2)}]" if ci else ""

    extra = []
    if result.get("nan_count"):
        extra.append(f"{n - result['nan_count']} finite")
    if n != 100:
        extra.append(f"n={n}")
    note = f" ({', '.join(extra)})" if extra else ""
    return f"{_num(k)}{interval('kendall_ci')} / {_num(s)}{interval('spearman_ci')}{note}"


def _trained_on(result: dict) -> list[str]:
    return list(result.get("protocol", {}).get("predictor", {}).get("trained_on") or [])


def _variants(proxy: str) -> list[tuple[str, object]]:
    """Row label and result filter: tgnas gets one row per kind of weights (the JSON
    protocol says which: one training space, or the leave-one-out set of the others)."""
    if proxy != "tgnas":
        return [(proxy, lambda r: True)]
    return [("tgnas (NB201-trained)", lambda r: _trained_on(r) == ["nb201"]),
            ("tgnas (leave-one-out default)", lambda r: len(_trained_on(r)) > 1)]


def _columns(folder: Path, rows: tuple[str, ...]) -> tuple[list, list[str]]:
    """The (space, task, parts) with results in ``folder`` and the pairs left out."""
    only = rows != ROWS
    columns, missing = [], []
    for space in SPACES:
        for task in TASKS:
            cheap = folder / f"{space}_{task}.json"
            extra = [*sorted(folder.glob(f"{space}_{task}_tgnas*.json")),
                     folder / f"{space}_{task}_grasp_zen.json"]
            parts = [(json.loads(f.read_text()), f.with_suffix(".csv"))
                     for f in (cheap, *extra) if f.exists()]
            if only:
                parts = [(p, c) for p, c in parts if set(rows) & set(p["results"])]
            if not parts or (not only and not cheap.exists()):
                missing.append(f"{space}/{task}")
                continue
            columns.append((space, task, parts))
    return columns, missing


def _header(space: str, task: str) -> str:
    return f"{space.split('_')[1]} / {task}"


def _cells(columns: list, rows: tuple[str, ...]) -> dict[str, list[str]]:
    """Row label -> one cell per column ("—" where that column has no result for it)."""
    table = {}
    for proxy in rows:
        for label, keep in _variants(proxy):
            row = []
            for _, _, parts in columns:
                found = [(p["results"][proxy], p["n"], _constant(csv_path, proxy))
                         for p, csv_path in parts
                         if proxy in p["results"] and keep(p["results"][proxy])]
                row.append(cell(*found[0]) if found else "—")
            table[label] = row
    return table


def main(folder: Path, rows: tuple[str, ...] = ROWS) -> None:
    """The table; ``rows`` other than all of :data:`ROWS` prints only those proxies, for every
    (space, task) that has any of them (e.g. ``grasp,zen`` before the cheap part is rerun)."""
    columns, missing = _columns(folder, rows)
    head = ["proxy"] + [_header(s, t) for s, t, _ in columns]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for label, row in _cells(columns, rows).items():
        print("| " + " | ".join([label, *row]) + " |")
    if rows == ROWS:
        base = ["baseline forward+backward"] + [
            f"{parts[0][0]['protocol']['baseline_seconds_per_arch']:.2f} s"
            for _, _, parts in columns]
        print("| " + " | ".join(base) + " |")
    if missing:
        print(f"\nnot measured yet: {', '.join(missing)}")


def merge(readme: Path, folder: Path, rows: tuple[str, ...]) -> list[str]:
    """Write the cells of ``rows`` that ``folder`` has results for into the README's every-task
    table (the one whose header names all 14 space/task pairs), keeping every other cell, so
    pairs measured in different sessions (``results/`` is not kept) end up in one table.
    Returns the cells changed, as "row, column: old -> new"."""
    lines = readme.read_text().splitlines(keepends=True)
    want = ["proxy"] + [_header(s, t) for s in SPACES for t in TASKS]
    split = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    starts = [i for i, cells in enumerate(split) if cells == want]
    if len(starts) != 1:
        raise SystemExit(f"{readme}: expected one table headed {' | '.join(want)}, "
                         f"found {len(starts)}")
    columns, _ = _columns(folder, rows)
    where = {_header(s, t): want.index(_header(s, t)) for s, t, _ in columns}
    new = _cells(columns, rows)
    changed = []
    i = starts[0] + 2
    while i < len(lines) and lines[i].startswith("|"):
        cells = split[i]
        if cells[0] in new:
            for (head, col), value in zip(where.items(), new[cells[0]], strict=True):
                if value != "—" and cells[col] != value:
                    changed.append(f"{cells[0]}, {head}: {cells[col]} -> {value}")
                    cells[col] = value
            lines[i] = "| " + " | ".join(cells) + " |\n"
        i += 1
    readme.write_text("".join(lines))
    return changed


if __name__ == "__main__":
    args = sys.argv[1:]
    target = None
    if args[:1] == ["--merge"]:
        target, args = Path(args[1]), args[2:]
    folder = Path(args[0]) if args else Path("results/repro/tnb_table")
    chosen = tuple(args[1].split(",")) if len(args) > 1 else ROWS
    if target is None:
        main(folder, chosen)
    else:
        print("\n".join(merge(target, folder, chosen)) or "no cell changed")
