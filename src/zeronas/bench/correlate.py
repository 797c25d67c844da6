"""The correlation protocol: sample architectures, score them, compare with ground truth.

Everything that changes a number is recorded in the result's ``protocol``; scores go through a
:class:`~zeronas.execution.store.ScoreStore` so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import collections
import copy
import csv
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from zeronas import __version__
from zeronas.bench.evaluate import agreement, bootstrap_intervals
from zeronas.bench.groundtruth import GroundTruth, load_ground_truth
from zeronas.errors import ZeronasError
from zeronas.execution.store import ScoreStore
from zeronas.plotting import pyplot
from zeronas.proxies.base import Batch, ProxySpec, resolve_proxies
from zeronas.proxies.ensemble import compose_all, expand
from zeronas.proxies.runner import (
    ProxyWarning,
    ScoreSettings,
    first_line,
    is_out_of_memory,
    make_batch,
    make_context,
    network_for_proxies,
    score_in_groups,
)
from zeronas.spaces.base import Space
from zeronas.spaces.tasks import task_protocol

if TYPE_CHECKING:
    from zeronas.execution.executor import Executor

BASELINE = "_baseline_forward_backward"


def select_sample(n_total: int, sample: int | None, seed: int) -> list[int]:
    """Row positions of a seeded sample without replacement (all rows when ``sample`` is None).

    The sample keeps the ground truth's row order, so it does not depend on scoring order.
    """
    if sample is None or sample >= n_total:
        return list(range(n_total))
    if sample < 2:
        raise ZeronasError(f"--sample must be at least 2 (or 'all'), got {sample}")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(n_total, size=sample, replace=False).tolist())


def parse_sample(text: str, option: str = "--sample", minimum: int = 2) -> int | None:
    """``"all"`` -> None, ``"1000"`` -> 1000, anything else an error naming ``option``."""
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ZeronasError(f"{option} {text!r}: expected a positive integer or 'all'") from None
    if value < minimum:
        raise ZeronasError(f"{option} must be at least {minimum} (or 'all'), got {value}")
    return value


def proxy_protocol(
    spec: ProxySpec, space: str, dataset: str, settings: ScoreSettings
) -> dict[str, Any]:
    """What determines ``spec``'s value on one architecture (the store key)."""
    proto: dict[str, Any] = {"space": space, "network": dataset, "proxy": spec.name}
    if spec.describe is not None:
        proto.update(spec.describe(space, dataset))
    if spec.needs_weights:
        proto["seed"] = settings.seed
    if spec.needs_data:
        proto.update(data=settings.data.source, split=settings.data.split,
                     batch_size=settings.batch_size, batches=settings.batches)
    return proto


def _leaf_parts(parts: Sequence[str]) -> list[str]:
    """The base proxies under composite ``parts`` (composites expanded), without repeats."""
    return expand(list(parts))[0]


def bare_forward_backward(
    model: nn.Module,
    batch: Batch,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> float:
    """Seconds of one plain training-mode forward + backward of ``loss_fn`` (the baseline;
    cross-entropy unless the task has its own loss, e.g. L1 for TransNAS ``normal``); NaN,
    with a warning, when it runs out of memory (a timing is never split)."""
    net = copy.deepcopy(model)
    net.train()
    x, y = batch.first
    if y is None:
        y = torch.zeros(len(x), dtype=torch.long)
    t0 = time.perf_counter()
    try:
        loss = loss_fn(net(x), y)
        loss.backward()
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        warnings.warn(f"the baseline (one forward+backward at batch size {len(x)}) ran out of "
                      f"memory ({first_line(exc)}); it is not split: this network's time is "
                      "NaN and left out of the baseline mean", ProxyWarning, stacklevel=2)
        return math.nan
    return time.perf_counter() - t0


@dataclass
class CorrelateResult:
    """The JSON-ready result of a correlation run plus the per-architecture table."""

    summary: dict[str, Any]
    rows: list[dict[str, Any]]

    def write(self, out: Path) -> list[Path]:
        """Write ``out`` (JSON) and ``out`` with ``.csv`` (per-architecture scores)."""
        import json

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.summary, indent=2, allow_nan=True) + "\n")
        csv_path = out.with_suffix(".csv")
        with open(csv_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)
        return [out, csv_path]

    def plot(self, out: Path) -> list[Path]:
        """One scatter plot per proxy (proxy score vs ground truth); needs the plot extra."""
        plt = pyplot()
        paths = []
        truth = np.array([r["ground_truth"] for r in self.rows], dtype=float)
        for name, res in self.summary["results"].items():
            values = np.array([r[name] for r in self.rows], dtype=float)
            fig, ax = plt.subplots(figsize=(4.5, 3.6), dpi=110)
            ax.scatter(values, truth, s=6, alpha=0.5)
            ax.set_xlabel(f"{name}")
            ax.set_ylabel(f"{self.summary['protocol']['dataset']} ground truth")
            ax.set_title(f"{name}: Kendall {res['kendall']:.3f}, Spearman {res['spearman']:.3f}",
                         fontsize=9)
            fig.tight_layout()
            path = out.with_name(f"{out.stem}_{name}.png")
            fig.savefig(path)
            plt.close(fig)
            paths.append(path)
        return paths

    def add_intervals(self, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> None:
        """Add bootstrap intervals of Kendall and Spearman to every proxy's result.

        Each proxy (and composite) is resampled over the same architectures the point
        estimate used (finite values only), with a generator seeded by ``seed``; the method is
        written into the protocol. ``resamples=0`` records that no interval was computed.
        """
        protocol = self.summary["protocol"]
        if resamples <= 0:
            protocol["bootstrap"] = None
            return
        truth = np.array([r["ground_truth"] for r in self.rows], dtype=float)
        for name, res in self.summary["results"].items():
            values = np.array([r[name] for r in self.rows], dtype=float)
            if not res.get("higher_is_better", True):
                values = -values
            keep = np.isfinite(values) & np.isfinite(truth)
            k_ci, s_ci = bootstrap_intervals(values[keep], truth[keep], resamples, seed, level)
            res["kendall_ci"] = list(k_ci)
            res["spearman_ci"] = list(s_ci)
        protocol["bootstrap"] = {
            "resamples": resamples, "seed": seed, "level": level,
            "method": "percentile bootstrap over architectures (pairs resampled with "
                      "replacement), NaN scores dropped as for the point estimate",
        }


def constant_value(values: np.ndarray) -> float | None:
    """The value every finite entry of ``values`` shares (at least two of them), else None.

    A proxy that cannot tell the architectures apart (for example synflow on a network whose
    output saturates a tanh: the gradient is exactly 0 everywhere) has no ranking; its
    correlation is NaN and the result says why instead of leaving a bare NaN."""
    finite = values[np.isfinite(values)]
    if len(finite) >= 2 and np.all(finite == finite[0]):
        return float(finite[0])
    return None


def split_summary(split: Mapping[str, int], batch_size: int) -> dict[str, Any]:
    """The JSON record of the architectures whose batch was split after running out of
    memory: ``{arch: micro-batch size}``, how many per size, and what that means."""
    sizes = collections.Counter(split.values())
    return {
        "architectures": dict(sorted(split.items())),
        "count_by_size": {str(m): sizes[m] for m in sorted(sizes)},
        "note": f"out of memory at batch size {batch_size}: for these architectures each "
                "batch was split into micro-batches of the given size (BN statistics and "
                "kernels over one micro-batch; a single-batch proxy reads the first "
                "micro-batch, zico every micro-batch as a batch), so their values are not "
                "under the protocol's batch size",
    }


def correlate(
    space: Space[Any],
    dataset: str,
    proxies: Sequence[str],
    sample: int | None,
    seed: int,
    settings: ScoreSettings,
    store: ScoreStore,
    ground_truth: GroundTruth | None = None,
    network: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    overrides: Mapping[str, ProxySpec] | None = None,
    executor: Executor | None = None,
    baseline_sample: int | None = None,
    shared_passes: bool = False,
) -> CorrelateResult:
    """Score a seeded sample of ``space`` with ``proxies`` and compare with ``dataset``.

    ``proxies`` may name composites (``az_nas``) and ensembles (``zico+naswot``): their parts
    are scored per architecture and stored; the aggregate is formed over this sample.

    ``network`` is the dataset whose network is built (default: ``dataset``); ``overrides``
    replaces registered specs by name (e.g. ``tgnas`` bound to other predictor weights).
    Scores already in ``store`` under the same protocol are reused; new ones are written as
    they come. ``executor`` (see :mod:`zeronas.execution.executor`) scores the missing
    architectures in parallel, with the results written to ``store`` by this process; None
    (the default) scores them here, one after the other.

    The baseline (one bare forward+backward) is timed on the first ``baseline_sample``
    architectures of the sample only (all when None): its mean is a ratio's denominator, and
    on large networks (TransNAS at 256x256) timing it on every architecture would cost more
    than cheap proxies themselves.

    By default each proxy is scored alone, so its time is its own. ``shared_passes`` scores
    the proxies an architecture lacks that share a forward/backward pass (grad_norm, snip,
    fisher, grasp, zico) in one runner call, so the pass is computed once: the values are the
    same, each of them is charged an even share of that call's time, every other proxy is
    still timed alone (recorded in the protocol). On large networks this is about twice as
    fast.
    """
    gt = ground_truth if ground_truth is not None else load_ground_truth(space.name)
    truth_col = gt.column(dataset)
    network = network or (dataset if dataset in space.datasets else next(iter(space.datasets)))
    base_names, composites = expand(list(proxies))
    specs = resolve_proxies(base_names, overrides)
    positions = select_sample(len(gt), sample, seed)
    archs = [gt.order[i] for i in positions]
    keys = {s.name: store.register_protocol(proxy_protocol(s, space.name, network, settings))
            for s in specs}
    base_key = store.register_protocol({"space": space.name, "network": network, "proxy": BASELINE,
                                        "seed": settings.seed, "batch_size": settings.batch_size,
                                        "data": settings.data.source})
    have = {s.name: store.get(space.name, archs, s.name, keys[s.name]) for s in specs}
    have[BASELINE] = store.get(space.name, archs, BASELINE, base_key)
    needs_data = any(s.needs_data for s in specs)
    batch = make_batch(space, network, settings)  # the baseline always needs one
    ctx = make_context(space, network, settings)
    if baseline_sample is not None and baseline_sample < 1:
        raise ZeronasError(f"baseline_sample must be >= 1 or None, got {baseline_sample}")
    timed = set(archs if baseline_sample is None else archs[:baseline_sample])
    if executor is not None:  # fills ``have`` and the store; the loop below then finds all
        from zeronas.execution.executor import ScoringJob, score_in_parallel

        job = ScoringJob(space, network, settings, tuple(specs), batch, ctx, shared_passes)
        score_in_parallel(executor, job, archs, have, keys, (BASELINE, base_key), store,
                          on_progress, timed=timed)
    for done, arch_str in enumerate(archs):
        missing = [s for s in specs if arch_str not in have[s.name]]
        want_base = arch_str in timed and arch_str not in have[BASELINE]
        if missing or want_base:
            arch = space.from_str(arch_str)
            net = network_for_proxies(missing, space, arch, network, settings.seed,
                                      weights=want_base)
            for group, scores, seconds in score_in_groups(
                    net, missing, batch, dataclasses.replace(ctx, arch=arch),
                    shared=shared_passes, split=settings.split_on_oom):
                for s in group:
                    store.put(space.name, arch_str, {s.name: (scores[s.name], seconds)},
                              keys[s.name], micro_batch=scores.micro_batch)
                    have[s.name][arch_str] = (scores[s.name], seconds)
            if want_base:
                seconds = bare_forward_backward(net, batch, ctx.loss)
                if not math.isnan(seconds):  # out of memory: not stored, tried again next run
                    store.put(space.name, arch_str, {BASELINE: (math.nan, seconds)}, base_key)
                have[BASELINE][arch_str] = (math.nan, seconds)
        if on_progress is not None and executor is None:
            on_progress(done + 1, len(archs))

    truth = np.array([truth_col[a] for a in archs], dtype=float)
    results: dict[str, Any] = {}
    pool: dict[str, np.ndarray] = {}  # each proxy's values over the sample, for composites
    splits: dict[str, dict[str, int]] = {}  # proxy -> {arch: micro-batch} (out of memory)
    for s in specs:
        values = pool[s.name] = np.array([have[s.name][a][0] for a in archs], dtype=float)
        agr = agreement(values, truth, s.higher_is_better)
        results[s.name] = {
            "kendall": agr.kendall,
            "spearman": agr.spearman,
            "top10_precision": agr.top10_precision,
            "seconds_per_arch": float(np.mean([have[s.name][a][1] for a in archs])),
            "nan_count": agr.nan_count,
            "higher_is_better": s.higher_is_better,
        }
        described = s.describe(space.name, network) if s.describe is not None else {}
        if described:
            results[s.name]["protocol"] = described
        split = splits[s.name] = store.get_micro_batches(space.name, archs, s.name, keys[s.name])
        if split:
            results[s.name]["micro_batch"] = split_summary(split, settings.batch_size)
            warnings.warn(
                f"{s.name}: the batch of {settings.batch_size} did not fit in memory for "
                f"{len(split)} of {len(archs)} architectures; their values are at smaller "
                "batch sizes (listed under micro_batch in the results), so they are not all "
                "under one protocol", ProxyWarning, stacklevel=2)
        constant = constant_value(values)
        if constant is not None:
            results[s.name]["constant_value"] = constant
            warnings.warn(
                f"{s.name} gave the same value ({constant:g}) for all {len(archs)} "
                f"architectures of {space.name}/{dataset}: its correlation is undefined "
                "(reported as NaN)", ProxyWarning, stacklevel=2)
    composed = compose_all(composites, pool)
    for name, comp in composites.items():
        agr = agreement(composed[name], truth, True)
        results[name] = {
            "kendall": agr.kendall,
            "spearman": agr.spearman,
            "top10_precision": agr.top10_precision,
            "seconds_per_arch": float(sum(results[p]["seconds_per_arch"]
                                          for p in _leaf_parts(comp.parts))),
            "nan_count": agr.nan_count,
            "higher_is_better": True,
            "composite": {"parts": list(comp.parts), "method": comp.method,
                          "note": "rank aggregate over this run's sample (pool-relative)"},
        }
    base_times = np.array([have[BASELINE][a][1] for a in archs if a in timed], dtype=float)
    base_oom = int(np.isnan(base_times).sum())  # out of memory: not timed
    baseline = float(np.mean(base_times[~np.isnan(base_times)])) if base_oom < len(base_times) \
        else math.nan
    for r in results.values():
        r["ratio_to_baseline"] = r["seconds_per_arch"] / baseline if baseline > 0 else math.nan
    protocol = {
        "space": space.name,
        "dataset": dataset,
        "network": network,
        "ground_truth": gt.description,
        "ground_truth_source": gt.source,
        "sample": "all" if sample is None else sample,
        "seed": seed,
        "batch_size": settings.batch_size,
        "batches": settings.batches,
        "data": settings.data.source,
        "data_description": settings.data.describe(),
        "data_used": needs_data,
        "network_init_seed": settings.seed,
        "top10_precision": "share of the top 10% by proxy that is in the top 10% by ground truth",
        "baseline_seconds_per_arch": baseline,
        "baseline_sample": len(timed),
        "baseline_out_of_memory": base_oom,
        "baseline": "one training-mode forward + backward of the task loss (cross-entropy "
                    "for classification) of the same networks on the first batch, measured in "
                    "the same run on the first baseline_sample architectures of the sample",
        "timing_this_run": "shared passes" if shared_passes else "each proxy alone",
        "timing_note": ("seconds_per_arch: scores computed in this run were timed per "
                        "shared-pass group (grad_norm, snip, fisher, grasp, zico... in one call "
                        "sharing a forward/backward pass, each charged an even share of that "
                        "call; every other proxy alone)" if shared_passes else
                        "seconds_per_arch: scores computed in this run were timed each proxy "
                        "alone (no shared passes)")
                       + ", model copy included; scores reused from the store keep the time "
                         "of the run that computed them, which may have used the other mode",
        "zeronas_version": __version__,
        "torch_threads": torch.get_num_threads(),
        **task_protocol(space.dataset(network)),
    }
    if executor is not None:
        protocol["executor"] = executor.describe()
    rows = []
    for pos, a in zip(positions, archs, strict=True):
        row: dict[str, Any] = {"row": pos, "arch": a, "ground_truth": truth_col[a]}
        if space.finite:
            row["index"] = space.index(space.from_str(a))
        for s in specs:
            row[s.name] = have[s.name][a][0]
            if splits[s.name]:  # empty: the whole batch fitted for every architecture
                row[f"{s.name}_micro_batch"] = splits[s.name].get(a, settings.batch_size)
        rows.append(row)
    for name, values in composed.items():
        for row, v in zip(rows, values, strict=True):
            row[name] = float(v)
    summary = {"protocol": protocol, "n": len(archs), "results": results}
    return CorrelateResult(summary, rows)
