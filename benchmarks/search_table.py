"""Searcher x objective x seed table on NB201 with CIFAR-10 ground truth (README, issue 6).

Each run starts from an empty score store, so its seconds are what a first run costs; the
true accuracy of the returned architecture is looked up afterwards (never read by the
search). Writes one JSON with every run and prints a Markdown table of means over seeds.

    ZERONAS_DATA=../shared/data .venv/bin/python benchmarks/search_table.py \
        --config evolution:default:500:synthetic --seeds 0,1,2,3,4 --out results/search_table.json

A config is ``searcher:objective:budget:data`` (objective ``default`` = the built-in
data-free objective; data ``synthetic`` or ``cifar10``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from zeronas.bench.data import parse_data
from zeronas.proxies import ScoreSettings
from zeronas.search.objective import DEFAULT_OBJECTIVE
from zeronas.search.run import run_search


def one_run(searcher: str, objective: str, budget: int, data: str, seed: int) -> dict[str, Any]:
    settings = ScoreSettings(seed=seed, data=parse_data(data))
    t0 = time.perf_counter()
    res = run_search("nb201", objective, searcher, budget, seed, settings, store=None)
    wall = time.perf_counter() - t0
    truth = res.best.get("ground_truth") or {}
    return {"searcher": searcher, "objective": objective, "budget": budget, "data": data,
            "seed": seed, "arch": res.best["arch"], "cifar10": truth.get("cifar10"),
            "evaluated": res.evaluated, "seconds": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", required=True,
                    help="searcher:objective:budget:data (repeatable)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--out", type=Path, default=Path("results/search_table.json"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[dict[str, Any]] = []
    if args.out.exists():  # add to an earlier table
        runs = json.loads(args.out.read_text())["runs"]
    for config in args.config:
        searcher, objective, budget, data = config.split(":")
        objective = DEFAULT_OBJECTIVE if objective == "default" else objective
        for seed in seeds:
            r = one_run(searcher, objective, int(budget), data, seed)
            print(json.dumps(r), flush=True)
            runs.append(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"torch_threads": torch.get_num_threads(), "runs": runs},
                                   indent=2) + "\n")
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["searcher"], r["objective"], r["budget"], r["data"]), []).append(r)
    print("| searcher | objective | budget | data | seeds | CIFAR-10 test acc. (mean ± sd) "
          "| seconds per run (mean, max) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (searcher, objective, budget, data), rs in groups.items():
        accs = [r["cifar10"] for r in rs]
        secs = [r["seconds"] for r in rs]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {searcher} | {objective} | {budget} | {data} | {len(rs)} | "
              f"{statistics.mean(accs):.2f} ± {sd:.2f} | {statistics.mean(secs):.0f}, "
              f"{max(secs):.0f} |")


if __name__ == "__main__":
    main()
