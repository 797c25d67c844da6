"""The ``zeronas`` command line: spaces, proxies, score (more commands join as they land).

Every command that takes bad input prints one line ``error: ...`` to stderr and exits with
code 2; ``--json`` switches to one machine-readable JSON object on stdout.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from zeronas.errors import ZeronasError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="zeronas: zero-shot neural architecture search (proxies, spaces, honest evaluation).",
)
F = TypeVar("F", bound=Callable[..., Any])


# Options shared by the commands that run a search (`search`, `navigate`): one definition each.
ObjectiveOpt = Annotated[str | None, typer.Option(
    help="Objective: proxies/ensembles (default: the data-free default objective).")]
BudgetOpt = Annotated[int, typer.Option(help="Distinct architectures scored.")]
SearchSeedOpt = Annotated[int, typer.Option(
    help="Seed of the searcher, initialisation and batches.")]
NetworkDatasetOpt = Annotated[str, typer.Option(help="Dataset the networks are built for.")]
DataOpt = Annotated[str, typer.Option(help="Batches: cifar10, synthetic or a CIFAR folder.")]
BatchSizeOpt = Annotated[int, typer.Option(help="Images per batch.")]
BatchesOpt = Annotated[int, typer.Option(help="Number of batches.")]
SplitOpt = Annotated[bool, typer.Option(
    "--split/--no-split",
    help="When a proxy runs out of memory, rerun it on micro-batches (the value is labelled "
         "with its micro-batch size); --no-split stops with an error instead.")]
CostReadoutOpt = Annotated[str, typer.Option(
    help="What the TG-NAS monotone cost term reads: 'total' (the graph's summed size) or "
         "'mean' (the mean node cost, weight format 2).")]
PredictorWeightsOpt = Annotated[Path | None, typer.Option(
    help="TG-NAS weights for the tgnas proxy (default: not trained on this space).")]
MaxFlopsOpt = Annotated[float | None, typer.Option(help="Budget: M multiply-adds.")]
MaxParamsOpt = Annotated[float | None, typer.Option(help="Budget: M parameters.")]
PopulationOpt = Annotated[int | None, typer.Option(help="Evolution: population size.")]
TournamentOpt = Annotated[int | None, typer.Option(help="Evolution: tournament sample size.")]
ExecutorOpt = Annotated[str | None, typer.Option(
    help="Score in parallel: local (process pool) or ray. Default: serial, here.")]
WorkersOpt = Annotated[int | None, typer.Option(
    help="Parallel workers (implies --executor local; default: one per core).")]
ThreadsOpt = Annotated[int | None, typer.Option(
    help="torch threads per worker (default: cores // workers).")]
RetriesOpt = Annotated[int, typer.Option(help="Retries of a failed task before it is reported.")]
RayAddressOpt = Annotated[str | None, typer.Option(
    help="Ray: 'local' (start one here, default) or 'auto' (join a running one).")]


def _console() -> Console:
    return Console()


def _first_sentence(text: str) -> str:
    """The first sentence of a description, for narrow tables."""
    head, sep, _ = text.partition(". ")
    return head + ("." if sep else "")


def _overrides(predictor_weights: Path | None) -> dict[str, Any]:
    """``{"tgnas": spec bound to the weights}`` when ``--predictor-weights`` is given."""
    if predictor_weights is None:
        return {}
    from zeronas.proxies.tgnas_proxy import tgnas_spec

    return {"tgnas": tgnas_spec(predictor_weights)}


def _progress(console: Console, transient: bool = False) -> Any:
    """The progress bar every long command shows (description, bar, done/total, time left)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                    transient=transient)


def _executor(kind: str | None, workers: int | None, threads: int | None, retries: int,
              ray_address: str | None) -> Any:
    """The executor of ``--executor/--workers/--threads/--retries/--ray-address`` (None:
    none was asked for, score serially in this process as always)."""
    if kind is None and workers is None and threads is None and ray_address is None:
        return None
    from zeronas.execution.executor import make_executor

    if kind is None:
        kind = "ray" if ray_address is not None else "local"
    return make_executor(kind, workers, threads, retries, ray_address)


def user_errors(fn: F) -> F:
    """Turn a ZeronasError into a one-line message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZeronasError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


@app.command("spaces")
@user_errors
def spaces_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the search spaces, their size and the datasets their networks are built for."""
    from zeronas.spaces import get_space, list_spaces

    rows = []
    for name in list_spaces():
        sp = get_space(name)
        rows.append({
            "name": name,
            "size": len(sp) if sp.finite else None,
            "datasets": list(sp.datasets),
            "description": sp.description,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="search spaces")
    for col in ("name", "size", "datasets", "description"):
        table.add_column(col)
    for r in rows:
        size = f"{r['size']:,}" if r["size"] is not None else "unbounded"
        table.add_row(r["name"], size, ", ".join(r["datasets"]), r["description"])
    _console().print(table)


@app.command("proxies")
@user_errors
def proxies_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the zero-cost proxies: what each needs, its unit and direction."""
    from zeronas.proxies import get_proxy, list_proxies

    rows = []
    for name in list_proxies():
        s = get_proxy(name)
        rows.append({
            "name": name,
            "needs_data": s.needs_data,
            "needs_labels": s.needs_labels,
            "higher_is_better": s.higher_is_better,
            "unit": s.unit,
            "bn": s.bn if s.needs_weights else "-",
            "description": s.description,
            "reference": s.reference,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="zero-cost proxies")
    for col in ("name", "data", "labels", "higher", "unit", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], "yes" if r["needs_data"] else "no",
                      "yes" if r["needs_labels"] else "no",
                      "yes" if r["higher_is_better"] else "no", r["unit"],
                      _first_sentence(r["description"]))
    _console().print(table)


@app.command("score")
@user_errors
def score_cmd(
    space: str = typer.Option("nb201", help="Search space name (see `zeronas spaces`)."),
    arch: str | None = typer.Option(None, help="Architecture in the space's canonical string."),
    index: int | None = typer.Option(None, help="Benchmark index (finite spaces)."),
    proxies: str = typer.Option("params,flops", help="Comma-separated proxy names."),
    dataset: str = typer.Option("cifar10", help="Dataset the network is built for."),
    data: str = typer.Option("synthetic", help="Batches: cifar10, synthetic or a CIFAR folder."),
    batch_size: int = typer.Option(64, help="Images per batch."),
    batches: int = typer.Option(2, help="Number of batches drawn (ZiCo uses them all)."),
    seed: int = typer.Option(0, help="Seed of the network initialisation and the batches."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    predictor_weights: PredictorWeightsOpt = None,
    split: SplitOpt = True,
) -> None:
    """Score one architecture with zero-cost proxies."""
    from zeronas.bench.data import parse_data
    from zeronas.proxies import ScoreSettings, parse_proxies, score_arch
    from zeronas.spaces import get_space
    from zeronas.spaces.tasks import task_protocol

    sp = get_space(space)
    if (arch is None) == (index is None):
        raise ZeronasError("give exactly one of --arch STRING or --index N")
    value = sp[index] if index is not None else sp.from_str(arch or "")
    over = _overrides(predictor_weights)
    specs = [over.get(s.name, s) for s in parse_proxies(proxies)]
    sp.dataset(dataset)
    settings = ScoreSettings(batch_size=batch_size, batches=batches, seed=seed,
                             data=parse_data(data), split_on_oom=split)
    scores = score_arch(sp, value, specs, dataset, settings)
    out = {
        "space": space,
        "arch": sp.to_str(value),
        "index": sp.index(value) if sp.finite else None,
        "dataset": dataset,
        "scores": scores,
        "units": {s.name: s.unit for s in specs},
        "protocol": settings.protocol() if any(s.needs_data for s in specs) else {"seed": seed},
    }
    for s in specs:
        described = s.describe(sp.name, dataset) if s.describe is not None else {}
        if described:
            out["protocol"][s.name] = described
    out["protocol"].update(task_protocol(sp.dataset(dataset)))
    if scores.micro_batch:  # out of memory: these values are for a smaller batch
        out["protocol"]["micro_batch"] = dict(scores.micro_batch)
    if as_json:
        print(json.dumps(out, indent=2, allow_nan=True))
        return
    console = _console()
    console.print(f"[bold]{space}[/bold] {out['arch']}"
                  + (f"  (index {out['index']})" if out["index"] is not None else ""))
    table = Table()
    table.add_column("proxy")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for s in specs:
        micro = scores.micro_batch.get(s.name)
        note = f" (at batch size {micro}: out of memory at {batch_size})" if micro else ""
        table.add_row(s.name, f"{scores[s.name]:.6g}", s.unit + note)
    console.print(table)


@app.command("correlate")
@user_errors
def correlate_cmd(
    space: str = typer.Option("nb201", help="Search space with ground truth."),
    dataset: str = typer.Option("cifar10", help="Ground-truth dataset (or task)."),
    proxies: str = typer.Option("params,flops", help="Comma-separated proxy names."),
    sample: str = typer.Option("1000", help="Architectures to sample, or 'all'."),
    seed: int = typer.Option(0, help="Seed of the sample, the initialisation and the batches."),
    data: str = typer.Option("synthetic", help="Batches: cifar10, synthetic or a CIFAR folder."),
    batch_size: int = typer.Option(64, help="Images per batch."),
    batches: int = typer.Option(2, help="Number of batches (ZiCo uses them all)."),
    store: Path = typer.Option(Path("results/zeronas.sqlite"), help="SQLite score store."),
    out: Path = typer.Option(Path("results/correlate.json"), help="Result JSON (CSV beside it)."),
    plot: bool = typer.Option(True, help="Write a scatter plot per proxy (needs matplotlib)."),
    predictor_weights: PredictorWeightsOpt = None,
    bootstrap: int = typer.Option(
        1000, min=0, help="Bootstrap resamples for 95% intervals (0: none)."),
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    retries: RetriesOpt = 1,
    ray_address: RayAddressOpt = None,
    baseline_sample: str = typer.Option(
        "200", help="Time the forward+backward baseline on the first N architectures, or 'all'."),
    split: SplitOpt = True,
    shared_passes: bool = typer.Option(
        False, "--shared-passes",
        help="Score the proxies that share a forward/backward pass (grad_norm, snip, fisher, "
             "grasp, zico) in one call: the same values, about twice as fast on big networks; "
             "each is charged an even share of that call's time."),
) -> None:
    """Score a seeded sample of a space and compare each proxy with the ground truth."""
    from zeronas.bench.correlate import correlate, parse_sample
    from zeronas.bench.data import parse_data
    from zeronas.bench.groundtruth import check_has_ground_truth
    from zeronas.execution.store import ScoreStore
    from zeronas.proxies import ScoreSettings
    from zeronas.proxies.ensemble import expand
    from zeronas.spaces import get_space

    sp = get_space(space)
    check_has_ground_truth(sp.name)  # the real reason first (mbv2: none, not "cifar10")
    sp.dataset(dataset)  # an unknown dataset or task fails here, before the store is made
    names = [n.strip() for n in proxies.split(",") if n.strip()]
    expand(names)  # unknown names fail here, before any work
    n = parse_sample(sample)
    settings = ScoreSettings(batch_size=batch_size, batches=batches, seed=seed,
                             data=parse_data(data), split_on_oom=split)
    console = _console()
    pool = _executor(executor, workers, threads, retries, ray_address)
    with ScoreStore(store) as db, _progress(console) as progress:
        task = progress.add_task(f"scoring {space}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            result = correlate(sp, dataset, names, n, seed, settings, db,
                               on_progress=on_progress, overrides=_overrides(predictor_weights),
                               executor=pool, baseline_sample=parse_sample(
                                   baseline_sample, "--baseline-sample", 1),
                               shared_passes=shared_passes)
        finally:
            if pool is not None:
                pool.close()
    result.add_intervals(bootstrap, seed)
    written = result.write(out)
    if plot:
        try:
            written += result.plot(out)
        except ZeronasError as exc:
            console.print(f"[yellow]no plots: {exc}[/yellow]")
    table = Table(title=f"{space} / {dataset}: {result.summary['n']} architectures, "
                        f"data={data}, seed={seed}")
    console.width = max(console.width, 112)  # never truncate numbers (pipes default to 80)
    cols = ["proxy", "kendall", "95% CI", "spearman", "95% CI", "top10%", "s/arch",
            "x base", "NaN"]
    if not bootstrap:
        cols = [c for c in cols if c != "95% CI"]
    for col in cols:
        table.add_column(col, justify="right" if col != "proxy" else "left", no_wrap=True)

    def ci(r: dict[str, Any], key: str) -> list[str]:
        lo_hi = r.get(f"{key}_ci")
        return [] if not bootstrap or lo_hi is None else [f"[{lo_hi[0]:.2f}, {lo_hi[1]:.2f}]"]

    for name, r in result.summary["results"].items():
        table.add_row(name, f"{r['kendall']:.3f}", *ci(r, "kendall"), f"{r['spearman']:.3f}",
                      *ci(r, "spearman"), f"{r['top10_precision']:.3f}",
                      f"{r['seconds_per_arch']:.4f}", f"{r['ratio_to_baseline']:.2f}",
                      str(r["nan_count"]))
    if bootstrap:
        console.print(f"95% CI: percentile bootstrap over architectures, {bootstrap} resamples, "
                      f"seed {seed}")
    console.print(table)
    console.print(f"baseline (one forward+backward): "
                  f"{result.summary['protocol']['baseline_seconds_per_arch']:.4f} s/arch")
    for p in written:
        console.print(f"wrote {p}")


@app.command("search")
@user_errors
def search_cmd(
    space: str = typer.Option("nb201", help="Search space name."),
    proxies: ObjectiveOpt = None,
    searcher: str = typer.Option("evolution", help="random, evolution or prune."),
    budget: BudgetOpt = 500,
    seed: SearchSeedOpt = 0,
    dataset: NetworkDatasetOpt = "cifar10",
    data: DataOpt = "synthetic",
    batch_size: BatchSizeOpt = 64,
    batches: BatchesOpt = 2,
    max_flops: MaxFlopsOpt = None,
    max_params: MaxParamsOpt = None,
    max_latency_ms: float | None = typer.Option(None, help="Budget: measured latency (ms)."),
    population_size: PopulationOpt = None,
    sample_size: TournamentOpt = None,
    store: Path = typer.Option(Path("results/zeronas.sqlite"), help="SQLite score store."),
    out: Path = typer.Option(Path("results/search.json"), help="Result JSON."),
    plot: bool = typer.Option(True, help="Plot best-so-far vs evaluations (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON."),
    objectives: str | None = typer.Option(
        None, help="Multi-objective: 'proxy,latency' (or proxy,flops / proxy,params): the "
                   "result holds the Pareto front (JSON and a plot)."),
    latency_table: Path | None = typer.Option(
        None, help="Latency from a fitted table (`zeronas latency --fit`), not measured."),
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    retries: RetriesOpt = 1,
    ray_address: RayAddressOpt = None,
    parallel: int | None = typer.Option(
        None, min=1, help="Candidates proposed per round and scored together (default: the "
                          "executor's workers, else 1); the result depends on it."),
    prune_rule: str | None = typer.Option(
        None, help="Prune: 'prune' (TE-NAS, default) or 'discretize' (Zero-Cost-PT)."),
    predictor_weights: PredictorWeightsOpt = None,
    split: SplitOpt = True,
) -> None:
    """Search a space for the architecture the objective ranks best, under budgets."""
    from zeronas.bench.data import parse_data
    from zeronas.execution.store import ScoreStore
    from zeronas.proxies import ScoreSettings
    from zeronas.search import DEFAULT_OBJECTIVE, run_search, searcher_options
    from zeronas.spaces import get_space

    sp = get_space(space)
    settings = ScoreSettings(batch_size=batch_size, batches=batches, seed=seed,
                             data=parse_data(data), split_on_oom=split)
    opts = searcher_options(population_size=population_size, sample_size=sample_size,
                            rule=prune_rule)
    console = _console()
    with ScoreStore(store) as db, _progress(console, transient=as_json) as progress:
        task = progress.add_task(f"{searcher} on {space}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        from zeronas.hardware.latency import search_latency_fn

        latency_fn = search_latency_fn(sp, dataset, latency_table, db, max_latency_ms,
                                       objectives)
        pool = _executor(executor, workers, threads, retries, ray_address)
        try:
            result = run_search(sp, proxies or DEFAULT_OBJECTIVE, searcher, budget, seed,
                                settings, db, dataset, max_flops=max_flops,
                                max_params=max_params, max_latency_ms=max_latency_ms,
                                searcher_options=opts, on_progress=on_progress,
                                latency_fn=latency_fn, objectives=objectives, executor=pool,
                                parallel=parallel, overrides=_overrides(predictor_weights))
        finally:
            if pool is not None:
                pool.close()
    written = [result.write(out)]
    if plot:
        try:
            written.append(result.plot(out.with_suffix(".png")))
            if result.pareto is not None:
                from zeronas.search.pareto import plot_pareto

                written.append(plot_pareto({**result.pareto, "protocol": result.protocol},
                                           out.with_name(f"{out.stem}_pareto.png")))
        except ZeronasError as exc:
            console.print(f"[yellow]no plot: {exc}[/yellow]")
    payload = result.to_json()
    if as_json:
        print(json.dumps(payload, indent=2, allow_nan=True))
        return
    best = payload["best"]
    table = Table(title=f"{searcher} on {space}: {payload['evaluated']} evaluated, "
                        f"{payload['seconds']:.1f} s")
    table.add_column("")
    table.add_column("value", overflow="fold")
    table.add_row("best", str(best["arch"]))
    for name, value in (best.get("scores") or {}).items():
        table.add_row(name, f"{value:.6g}")
    for key in ("flops", "params"):
        if best.get(key) is not None:
            table.add_row(key, f"{best[key]:.4g}")
    for ds, acc in (best.get("ground_truth") or {}).items():
        table.add_row(f"true {ds}", f"{acc:.2f}" if acc is not None else "unknown")
    if payload.get("pareto"):
        table.add_row("Pareto front", f"{len(payload['pareto']['front'])} architectures "
                                      f"(`zeronas pareto {out}`)")
    console.print(table)
    for p in written:
        console.print(f"wrote {p}")


@app.command("train-predictor")
@user_errors
def train_predictor_cmd(
    space: str = typer.Option("nb201", help="Space(s) with ground truth, comma-separated."),
    dataset: str = typer.Option("cifar10", help="Ground-truth dataset (or task)."),
    out: Path = typer.Option(Path("results/tgnas.pt"), help="Where to save the weights."),
    seed: int = typer.Option(0, help="Seed of the split, initialisation and batches."),
    train_size: float = typer.Option(
        0.9, help="Training share (<= 1) or number of architectures (> 1)."),
    cost_readout: CostReadoutOpt = "total",
) -> None:
    """Train the TG-NAS predictor on a space's ground truth; prints held-out Kendall/Spearman."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from zeronas.predictors.tgnas import train_predictor
    from zeronas.predictors.tgnas.model import GCNConfig

    config = GCNConfig(cost_readout=cost_readout)

    spaces = [s.strip() for s in space.split(",") if s.strip()]
    size: float | int = int(train_size) if train_size > 1 else train_size
    console = _console()
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"training on {space}", total=None)

        def on_progress(done: int, total: int, info: dict[str, Any]) -> None:
            best = info.get("best_kendall")
            desc = f"training on {space}" + (f" (valid Kendall {best:.3f})" if best else "")
            progress.update(task, completed=done, total=total, description=desc)

        result = train_predictor(spaces, dataset, out, seed, train_size=size,
                                 config=config, on_progress=on_progress,
                                 command="zeronas " + " ".join(sys.argv[1:]))
        progress.update(task, completed=progress.tasks[0].total or 1)
    table = Table(title=f"TG-NAS trained on {space} / {dataset}: held-out agreement")
    for col in ("space", "n", "kendall", "spearman"):
        table.add_column(col)
    for name, r in result.heldout.items():
        table.add_row(name, str(r.get("n")), f"{r['kendall']:.3f}", f"{r['spearman']:.3f}")
    console.print(table)
    console.print(f"wrote {result.path}")


# commands defined in their own modules register themselves on `app` when imported
from zeronas import cli_hardware, cli_navigator, cli_tgnas  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
