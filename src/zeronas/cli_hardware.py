"""Hardware commands: ``zeronas latency`` (measure, fit and check a latency table) and
``zeronas pareto`` (report the Pareto front of a multi-objective search).

Importing this module registers the commands on :data:`zeronas.cli.app`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from zeronas.cli import _console, _progress, app, user_errors
from zeronas.errors import ZeronasError


@app.command("latency")
@user_errors
def latency_cmd(
    space: str = typer.Option("nb201", help="Search space name."),
    arch: str | None = typer.Option(None, help="Architecture in the space's canonical string."),
    index: int | None = typer.Option(None, help="Benchmark index (finite spaces)."),
    dataset: str = typer.Option("cifar10", help="Dataset the network is built for."),
    backend: str = typer.Option("torch", help="torch (eager) or onnxruntime (onnx extra)."),
    clock: str = typer.Option("cpu", help="cpu (thread CPU time, 1 thread) or wall."),
    threads: int = typer.Option(1, help="Intra-op threads during the measurement."),
    batch_size: int = typer.Option(1, help="Inputs per forward pass."),
    warmup: int = typer.Option(10, help="Untimed warm-up runs."),
    runs: int = typer.Option(30, help="Timed runs (the median is reported)."),
    repeat: int = typer.Option(1, help="Measure this many times afresh and report the spread "
                                       "of the medians (repeatability)."),
    fit: int | None = typer.Option(
        None, help="Fit a latency table on this many sampled architectures instead."),
    eval_size: int = typer.Option(100, "--eval", help="With --fit: held-out architectures the "
                                                      "table is checked on."),
    table: Path | None = typer.Option(None, help="A fitted table: also print its prediction."),
    seed: int = typer.Option(0, help="With --fit: seed of the sampled architectures."),
    store: Path = typer.Option(Path("results/zeronas.sqlite"), help="SQLite store (cache)."),
    out: Path = typer.Option(Path("results/latency_table.json"),
                             help="With --fit: where the table is written."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Measure the latency of one architecture on this machine, or fit a latency table."""
    from zeronas.execution.store import ScoreStore
    from zeronas.hardware.latency import (
        LatencySettings,
        LatencyTable,
        arch_latency,
        device_name,
        latency_protocol,
        measure_latency,
        repeatability,
    )
    from zeronas.proxies.runner import build_network
    from zeronas.spaces import get_space

    sp = get_space(space)
    sp.dataset(dataset)
    settings = LatencySettings(backend=backend, batch_size=batch_size, warmup=warmup,
                               runs=runs, threads=threads, clock=clock)
    if fit is not None:
        _fit(sp, dataset, settings, fit, eval_size, seed, store, out, as_json)
        return
    if (arch is None) == (index is None):
        raise ZeronasError("give exactly one of --arch STRING or --index N (or --fit N)")
    if repeat < 1:
        raise ZeronasError(f"--repeat must be >= 1, got {repeat}")
    value = sp[index] if index is not None else sp.from_str(arch or "")
    key = sp.to_str(value)
    with ScoreStore(store) as db:
        first = arch_latency(sp, value, dataset, settings, db)
    results = [first]
    if repeat > 1:  # fresh measurements, never the cache
        net = build_network(sp, value, dataset, 0)
        shape = sp.dataset(dataset).input_shape
        results += [measure_latency(net, shape, settings) for _ in range(repeat - 1)]
    medians = [r.median_ms for r in results]
    payload = {
        "space": space,
        "arch": key,
        "device": device_name(),
        "protocol": latency_protocol(sp, dataset, settings),
        "latency": first.to_json(),
    }
    if repeat > 1:
        payload["repeats"] = {"medians_ms": medians,
                              "max_relative_deviation": repeatability(medians)}
    if table is not None:
        payload["predicted_ms"] = LatencyTable.load(table).predict(sp, value)
    if as_json:
        print(json.dumps(payload, indent=2, allow_nan=True))
        return
    console = _console()
    console.print(f"[bold]{space}[/bold] {key}")
    t = Table(title=f"latency on {payload['device']} ({backend}, {threads} thread(s), "
                    f"batch {batch_size}, {clock} clock)")
    t.add_column("")
    t.add_column("ms", justify="right")
    t.add_row("median", f"{first.median_ms:.3f}")
    t.add_row("IQR", f"{first.iqr_ms:.3f}")
    t.add_row("MAD", f"{first.mad_ms:.3f}")
    t.add_row("min", f"{first.min_ms:.3f}")
    t.add_row("wall-clock median", f"{first.wall_median_ms:.3f}")
    if repeat > 1:
        t.add_row(f"medians of {repeat} calls", ", ".join(f"{m:.3f}" for m in medians))
        t.add_row("largest deviation", f"{100 * payload['repeats']['max_relative_deviation']:.1f}%")
    if "predicted_ms" in payload:
        t.add_row("predicted (table)", f"{payload['predicted_ms']:.3f}")
    console.print(t)


def _fit(sp: Any, dataset: str, settings: Any, n_fit: int, n_eval: int, seed: int,
         store: Path, out: Path, as_json: bool) -> None:
    """Measure ``n_fit + n_eval`` sampled architectures, fit on the first ``n_fit``, check on
    the rest, and write the table."""
    from zeronas.execution.store import ScoreStore
    from zeronas.hardware.latency import (
        device_name,
        evaluate_latency_table,
        fit_latency_table,
        latency_protocol,
        measure_archs,
        sample_archs,
    )

    if n_fit < 3:
        raise ZeronasError(f"--fit needs at least 3 architectures, got {n_fit}")
    if n_eval < 0 or n_eval == 1 or n_eval == 2:
        raise ZeronasError(f"--eval must be 0 or at least 3, got {n_eval}")
    archs = sample_archs(sp, n_fit + n_eval, seed)
    console = _console()
    with ScoreStore(store) as db, _progress(console, transient=as_json) as progress:
        task = progress.add_task(f"measuring {sp.name}", total=len(archs))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        ms = measure_archs(sp, archs, dataset, settings, db, on_progress)
    proto = {**latency_protocol(sp, dataset, settings), "device": device_name(),
             "sample_seed": seed, "fit_size": n_fit, "eval_size": n_eval}
    lt = fit_latency_table(sp, archs[:n_fit], ms[:n_fit], dataset, proto)
    report = evaluate_latency_table(lt, sp, archs[n_fit:], ms[n_fit:]) if n_eval else None
    lt = type(lt)(lt.space, lt.network, lt.base_ms, lt.table, lt.protocol,
                  {**lt.fit, "held_out": report})
    path = lt.save(out)
    if as_json:
        print(json.dumps(lt.to_json(), indent=2, allow_nan=True))
        return
    t = Table(title=f"latency table for {sp.name} ({dataset}) on {proto['device']}")
    for col in ("set", "n", "spearman", "kendall", "MAPE", "worst"):
        t.add_column(col, justify="right" if col != "set" else "left")
    t.add_row("fit (in-sample)", str(lt.fit["n"]), f"{lt.fit['spearman']:.3f}", "", "", "")
    if report is not None:
        t.add_row("held out", str(report["n"]), f"{report['spearman']:.3f}",
                  f"{report['kendall']:.3f}", f"{100 * report['mape']:.1f}%",
                  f"{100 * report['max_ape']:.1f}%")
    console.print(t)
    console.print(f"measured latencies: {min(ms):.3f} to {max(ms):.3f} ms (median of "
                  f"{settings.runs} runs each)")
    console.print(f"wrote {path}")


@app.command("pareto")
@user_errors
def pareto_cmd(
    run: Path = typer.Argument(..., help="A search result JSON (zeronas search --objectives)."),
    out: Path | None = typer.Option(None, help="Plot (PNG; default: RUN_pareto.png)."),
    plot: bool = typer.Option(True, help="Write the plot (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="Print the front as JSON."),
) -> None:
    """Report the Pareto front of a multi-objective search: a table and a plot."""
    from zeronas.search.pareto import load_pareto, plot_pareto

    block = load_pareto(run)
    written = []
    if plot:
        target = out or run.with_name(f"{run.stem}_pareto.png")
        try:
            written.append(plot_pareto(block, target))
        except ZeronasError as exc:
            if not as_json:
                _console().print(f"[yellow]no plot: {exc}[/yellow]")
    if as_json:
        print(json.dumps({"objectives": block["objectives"], "front": block["front"],
                          "evaluated": len(block["points"])}, indent=2, allow_nan=True))
        return
    costs = block["objectives"][1:]
    has_truth = any(p.get("truth") is not None for p in block["front"])
    t = Table(title=f"Pareto front: {len(block['front'])} of {len(block['points'])} evaluated "
                    f"({', '.join(block['objectives'])})")
    for col in ("arch", "proxy", *costs, *(["true acc"] if has_truth else [])):
        t.add_column(col, overflow="fold", justify="left" if col == "arch" else "right")
    for p in block["front"]:
        row = [p["arch"], f"{p['proxy']:.4g}"]
        row += [f"{p[c]:.4g}" if p[c] is not None else "NaN" for c in costs]
        if has_truth:
            row.append(f"{p['truth']:.2f}" if p.get("truth") is not None else "")
        t.add_row(*row)
    console = _console()
    console.print(t)
    for p in written:
        console.print(f"wrote {p}")
