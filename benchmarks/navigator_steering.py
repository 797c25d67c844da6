"""Steered vs unsteered search on NB201 (README measurement of the navigator).

For seeds 0-4: regularized evolution with a data-free proxy, once unsteered and once steered
at evaluation 0 by excluding ``none`` and ``avg_pool_3x3`` on every edge, through the same
``NavigatorRun.submit`` the web page's API calls. Reports, against the NB201 CIFAR-10 ground
truth ($ZERONAS_DATA; never read by the search), the final true accuracy of the best
candidate by objective and the evaluations needed to reach it.

    ZERONAS_DATA=/work/shared/data OMP_NUM_THREADS=1 \
        .venv/bin/python benchmarks/navigator_steering.py --out docs/navigator_steering.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from zeronas.navigator import NavigatorRun, RunConfig


def one(seed: int, steered: bool, proxies: str, budget: int, store: Path) -> dict:
    cfg = RunConfig(proxies=proxies, budget=budget, seed=seed, measure=False)
    run = NavigatorRun(cfg, store)
    if steered:
        for edge in range(len(run.encoding.slots)):
            for op in ("none", "avg_pool_3x3"):
                run.submit("exclude", {"edge": edge, "op": op})
    t0 = time.perf_counter()
    result = run.run()
    if result is None:
        raise SystemExit(f"run failed: {run.error}")
    hist = result["history"]
    final = hist[-1]["best_truth"]
    reach = next(h["evaluation"] for h in hist if h["best_truth"] == final)
    return {"seed": seed, "steered": steered, "run_id": run.run_id,
            "final_best_arch": hist[-1]["best_arch"], "final_true_accuracy": final,
            "evaluations_to_final": reach, "evaluated": result["evaluated"],
            "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--proxies", default="synflow")
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--store", type=Path, default=Path("results/navigator_steering.sqlite"))
    p.add_argument("--out", type=Path, default=Path("docs/navigator_steering.json"))
    a = p.parse_args()
    torch.set_num_threads(1)
    rows = [one(int(s), steered, a.proxies, a.budget, a.store)
            for s in a.seeds.split(",") for steered in (False, True)]
    summary = {}
    for steered in (False, True):
        sel = [r for r in rows if r["steered"] == steered]
        summary["steered" if steered else "unsteered"] = {
            "final_true_accuracy_mean": float(np.mean([r["final_true_accuracy"] for r in sel])),
            "evaluations_to_final_mean": float(np.mean([r["evaluations_to_final"] for r in sel])),
        }
    pairs = []
    for seed in a.seeds.split(","):
        u, st = (next(r for r in rows if r["seed"] == int(seed) and r["steered"] == flag)
                 for flag in (False, True))
        pairs.append({"seed": int(seed),
                      "same_or_better": st["final_true_accuracy"] >= u["final_true_accuracy"],
                      "fewer_evaluations": st["evaluations_to_final"] < u["evaluations_to_final"]})
    summary["seeds_same_or_better_in_fewer"] = sum(
        p["same_or_better"] and p["fewer_evaluations"] for p in pairs)
    summary["pairs"] = pairs
    out = {"protocol": {"space": "nb201", "dataset": "cifar10 (NB201 200-epoch test accuracy)",
                        "searcher": "evolution (population 50, sample 10)",
                        "proxies": a.proxies, "budget": a.budget, "seeds": a.seeds,
                        "steering": "exclude none and avg_pool_3x3 on every edge at "
                                    "evaluation 0 (NavigatorRun.submit)",
                        "batch": "synthetic, data-free proxy"},
           "runs": rows, "summary": summary}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(f"seed {r['seed']} {'steered  ' if r['steered'] else 'unsteered'} "
              f"final {r['final_true_accuracy']:.2f}% reached at evaluation "
              f"{r['evaluations_to_final']:3d} ({r['seconds']:.0f} s)")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
