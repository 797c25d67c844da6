"""Measurements behind the README's explanations of gaps to published numbers.

    ZERONAS_DATA=/work/shared/data OMP_NUM_THREADS=1 \
        .venv/bin/python benchmarks/explain_gaps.py [flops] [synflow] [top] [macro]

- ``flops``: params and FLOPs of all 15,625 NB201 cells (an exact affine function of the
  number of 3x3 and 1x1 convolutions, fitted on 40 built networks; the residual is printed)
  against the CIFAR-10 accuracy; and FLOPs that also count average pooling (kernel^2
  operations per output element, as thop-style counters do).
- ``synflow``: a Zen-NAS-style synflow (Gaussian re-initialisation, Gaussian input, BN in
  training mode, float64) against ours on the first 300 cells of the 1,000-cell correlate
  sample (reads ``results/repro/nb201_c10_main.csv`` for ours).
- ``top``: zico, meco, synflow, naswot, jacob_cov, snip, grad_norm and swap of the all-3x3 cell
  and of the 12 best NB201 cells (real CIFAR-10 batch, seed 0).
- ``macro``: Spearman of simple skeleton features with the TransNAS-Bench-101 macro tasks,
  and of the TG-NAS cost priors alone: the graph's total node cost (weight format 3, the
  default's cost term) and the mean node feature (format 2).
"""

from __future__ import annotations

import csv
import math
import sys

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from torch import nn

from zeronas.bench.correlate import select_sample
from zeronas.bench.groundtruth import load_ground_truth
from zeronas.hardware import count_flops, count_params
from zeronas.proxies.activation import gaussian_init_
from zeronas.proxies.runner import build_network
from zeronas.spaces import get_space

ALL_3X3 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
           "nor_conv_3x3~2|")


def _nb201() -> tuple[object, list[str], dict[str, float]]:
    gt = load_ground_truth("nb201")
    return get_space("nb201"), list(gt.order), gt.column("cifar10")


def flops() -> None:
    sp, keys, col = _nb201()
    y = np.array([col[k] for k in keys])
    counts = np.array([[k.count("nor_conv_3x3"), k.count("nor_conv_1x1")] for k in keys])
    idx = np.random.default_rng(0).choice(len(keys), 40, replace=False)
    measured = []
    for i in idx:
        net = build_network(sp, sp.from_str(keys[i]), "cifar10", 0, meta=True)
        measured.append((count_flops(net, (3, 32, 32)), count_params(net)))
    design = np.c_[np.ones(len(idx)), counts[idx]]
    full = np.c_[np.ones(len(keys)), counts]
    for j, name in enumerate(("flops", "params")):
        target = np.array([m[j] for m in measured])
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        resid = float(np.abs(design @ coef - target).max())
        v = full @ coef
        print(f"{name:6s} all {len(keys)} cells: Kendall {kendalltau(v, y).statistic:.3f}, "
              f"Spearman {spearmanr(v, y).statistic:.3f} (affine fit, max residual {resid:.2g})")
        if name == "flops":
            conv = v
    pos = select_sample(len(keys), 1000, 0)
    tau = kendalltau(conv[pos], y[pos]).statistic
    print(f"flops  the 1,000-cell sample (seed 0): Kendall {tau:.3f}")
    # average pooling at C x H x W of each stage, 9 operations per output, 5 cells per stage
    pool = 5 * sum(9 * c * hw * hw for c, hw in ((16, 32), (32, 16), (64, 8)))
    n_pool = np.array([k.count("avg_pool_3x3") for k in keys])
    with_pool = conv + n_pool * pool
    print(f"flops counting average pooling, all cells: Kendall "
          f"{kendalltau(with_pool, y).statistic:.3f}")


def synflow() -> None:
    sp, keys, col = _nb201()
    pos = select_sample(len(keys), 1000, 0)[:300]
    with open("results/repro/nb201_c10_main.csv") as f:
        ours_csv = {r["arch"]: float(r["synflow"]) for r in csv.DictReader(f)}
    zen_style, ours, y = [], [], []
    for i in pos:
        key = keys[i]
        net = build_network(sp, sp.from_str(key), "cifar10", 0)
        gen = torch.Generator().manual_seed(0)
        gaussian_init_(net, gen)
        net.train().double()
        with torch.no_grad():
            for p in net.state_dict().values():
                p.abs_()
        x = torch.randn(16, 3, 32, 32, generator=gen, dtype=torch.float64)
        out = net(x)
        torch.sum(out[0] if isinstance(out, tuple) else out).backward()
        total = sum(float((m.weight * m.weight.grad).abs().sum()) for m in net.modules()
                    if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None)
        zen_style.append(math.log(total) if total > 0 else math.nan)
        ours.append(ours_csv[key])
        y.append(col[key])
    z, o, t = np.array(zen_style), np.array(ours), np.array(y)
    ok = np.isfinite(z)
    print(f"Zen-NAS-style synflow on {ok.sum()} cells: Kendall "
          f"{kendalltau(z[ok], t[ok]).statistic:.3f}; ours on the {len(o)} same cells: "
          f"{kendalltau(o, t).statistic:.3f}")


def top() -> None:
    from zeronas.bench.data import parse_data
    from zeronas.proxies.runner import ScoreSettings
    from zeronas.search.objective import Objective

    sp, _, col = _nb201()
    names = ["zico", "meco", "synflow", "naswot", "jacob_cov", "snip", "grad_norm", "swap"]
    ob = Objective(",".join(names), sp, "cifar10",
                   ScoreSettings(seed=0, data=parse_data("cifar10")))
    best = sorted(col, key=lambda k: -col[k])[:12]
    print("accuracy " + " ".join(f"{n:>10s}" for n in names) + "  cell")
    for key in [ALL_3X3, *best]:
        s = ob.evaluate(sp.from_str(key))
        print(f"{col[key]:8.2f} " + " ".join(f"{s[n]:10.4g}" for n in names) + f"  {key}")


def macro() -> None:
    from zeronas.predictors.tgnas.cost import cost_feature

    gt = load_ground_truth("tnb101_macro")
    space = get_space("tnb101_macro")
    graphs = {k: space.to_graph(space.from_str(k)) for k in gt.order}
    for task in ("class_scene", "class_object", "jigsaw", "normal", "autoencoder"):
        column = gt.column(task)
        keys = [k for k in gt.order if k in column]
        y = np.array([column[k] for k in keys])
        mods = [k.split("-")[1] for k in keys]
        feats = {
            "modules": [len(m) for m in mods],
            "downsampling": [sum(int(c) > 2 for c in m) for m in mods],
            "width doublings": [sum(int(c) % 2 == 0 for c in m) for m in mods],
            "first downsampling": [next((i for i, c in enumerate(m) if int(c) > 2), len(m))
                                   for m in mods],
            # the TG-NAS cost priors alone (ArchGraph.costs): format 3 reads the graph's
            # total size (a monotone function of this sum), format 2 the mean node feature
            "total node cost (format 3)": [float(sum(graphs[k].costs or ())) for k in keys],
            "mean node cost (format 2)": [
                float(np.mean([cost_feature(c) for c in graphs[k].costs or ()]))
                for k in keys],
        }
        print(f"{task:13s} " + ", ".join(f"{f} {spearmanr(v, y).statistic:+.2f}"
                                         for f, v in feats.items()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    chosen = sys.argv[1:] or ["flops", "macro"]
    for name in chosen:
        {"flops": flops, "synflow": synflow, "top": top, "macro": macro}[name]()
