"""Does the TG-NAS predictor's learned part help on operators it never saw?

Within NB201, one operator at a time stands in for an unseen one: the predictor is trained on
the cells without it (every other setting as ``zeronas train-predictor``; the cost readout of
weight format 2 unless ``--cost-readout total``) and scores a seeded sample of the cells that
contain it. Each is scored three ways: the whole model, its monotone cost term alone (the
learned part's factor set to 0) and ``params``. No other space's labels are
read, so this is evidence about unseen operators that the leave-one-space-out matrix did not
choose.

    ZERONAS_DATA=../shared/data .venv/bin/python benchmarks/unseen_ops.py [--sample 2000]

Prints a table and writes results/repro/unseen_ops.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from zeronas.predictors.tgnas.model import COST_READOUTS, GCNConfig
from zeronas.predictors.tgnas.predictor import Predictor
from zeronas.predictors.tgnas.training import Group, _agree, fit_graphs, load_group
from zeronas.predictors.tgnas.transfer import _params

OPS = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=2000, help="scored cells per operator")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/repro/unseen_ops.json"))
    ap.add_argument("--cost-readout", choices=COST_READOUTS, default="mean",
                    help="the model's cost term: 'mean' (weight format 2, the README's table) "
                         "or 'total' (format 3)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    group, space, archs = load_group("nb201", "cifar10")
    keys = [space.to_str(a) for a in archs]
    rows = {}
    for op in OPS:
        t0 = time.perf_counter()
        without = [i for i, k in enumerate(keys) if op not in k]
        with_op = np.array([i for i, k in enumerate(keys) if op in k])
        rng = np.random.default_rng(args.seed)
        scored = np.sort(rng.choice(with_op, size=min(args.sample, len(with_op)),
                                    replace=False))
        train = Group(f"nb201 without {op}", [group.graphs[i] for i in without],
                      group.targets[without])
        result = fit_graphs([train], seed=args.seed,
                            config=GCNConfig(cost_readout=args.cost_readout))
        pred = Predictor(result.model, result.metadata)
        test = [archs[i] for i in scored]
        truth = group.targets[scored]
        full = _agree(pred.predict(space, test), truth)
        pred.model.learned_scale = 0.0  # the learned part off: the cost term alone
        cost = _agree(pred.predict(space, test), truth)
        params = _agree(_params(space, "cifar10", test), truth)
        rows[op] = {"trained_on": len(without), "scored": len(test), "full": full,
                    "cost_only": cost, "params": params,
                    "seconds": time.perf_counter() - t0}
        print(f"{op:14s} trained on {len(without):5d}  scored {len(test)}  spearman: "
              f"full {full['spearman']:.3f}  cost only {cost['spearman']:.3f}  "
              f"params {params['spearman']:.3f}  ({rows[op]['seconds']:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "protocol": {"space": "nb201", "dataset": "cifar10", "sample": args.sample,
                     "seed": args.seed, "torch_threads": torch.get_num_threads(),
                     "cost_readout": args.cost_readout,
                     "training": "zeronas train-predictor defaults on the cells without the "
                                 "operator; scored on a seeded sample of the cells with it"},
        "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
