"""``zeronas navigate`` (watch and steer a search in the browser) and ``zeronas report``
(the same views of a finished run as one HTML file).

Registered on the main typer app when this module is imported (``zeronas.cli`` imports it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from zeronas.cli import (
    BatchesOpt,
    BatchSizeOpt,
    BudgetOpt,
    DataOpt,
    MaxFlopsOpt,
    MaxParamsOpt,
    NetworkDatasetOpt,
    ObjectiveOpt,
    PopulationOpt,
    SearchSeedOpt,
    TournamentOpt,
    app,
    user_errors,
)


def _console() -> Console:
    return Console()


@app.command("navigate")
@user_errors
def navigate_cmd(
    space: str = typer.Option("nb201", help="Search space (nb201 or nats_sss)."),
    proxies: ObjectiveOpt = None,
    searcher: str = typer.Option("evolution", help="random or evolution."),
    budget: BudgetOpt = 500,
    seed: SearchSeedOpt = 0,
    dataset: NetworkDatasetOpt = "cifar10",
    data: DataOpt = "synthetic",
    batch_size: BatchSizeOpt = 64,
    batches: BatchesOpt = 2,
    max_flops: MaxFlopsOpt = None,
    max_params: MaxParamsOpt = None,
    population_size: PopulationOpt = None,
    sample_size: TournamentOpt = None,
    store: Path = typer.Option(Path("results/zeronas.sqlite"),
                               help="SQLite store: scores, steering actions, FLOPs cache."),
    out: Path | None = typer.Option(
        None, help="Result JSON, written when the run ends (default: results/navigator/<id>.json)"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8765, help="Port to listen on (0 picks a free one)."),
    replay_run: str | None = typer.Option(
        None, "--replay", help="Replay a recorded run id of --store with its actions (no server)."),
) -> None:
    """Start a search in the background and watch and steer it in the browser."""
    from zeronas.navigator.app import is_loopback, serve
    from zeronas.navigator.page import need
    from zeronas.navigator.run import NavigatorRun, RunConfig, new_run_id, replay
    from zeronas.search import DEFAULT_OBJECTIVE, searcher_options

    console = _console()
    if replay_run is not None:
        run = replay(store, replay_run, out=out)
        path = out or "(not written: pass --out)"
        console.print(f"replayed {replay_run} as {run.run_id}: {run.evaluated} evaluations; "
                      f"best {run.result['best']['arch'] if run.result else '?'}; result {path}")
        return
    for module in ("starlette", "uvicorn", "plotly"):
        need(module)
    opts = searcher_options(population_size=population_size, sample_size=sample_size)
    config = RunConfig(space=space, proxies=proxies or DEFAULT_OBJECTIVE, searcher=searcher,
                       searcher_options=tuple(opts.items()), budget=budget, seed=seed,
                       dataset=dataset, data=data, batch_size=batch_size, batches=batches,
                       max_flops=max_flops, max_params=max_params)
    run_id = new_run_id()
    out_path = out if out is not None else Path("results/navigator") / f"{run_id}.json"
    run = NavigatorRun(config, store, run_id=run_id, out=out_path)
    if not is_loopback(host):
        print(f"warning: listening on {host}, not loopback: anyone who can reach this machine "
              "can see and steer the search (there is no authentication)", file=sys.stderr)

    def ready(url: str) -> None:
        run.start()
        console.print(f"navigator for run [bold]{run.run_id}[/bold] at [bold]{url}[/bold] "
                      "(Ctrl-C to quit)")
        console.print(f"scores and actions go to {store}; the result to {out_path}; closing "
                      "the browser does not stop the search")

    try:
        serve(run, host, port, on_ready=ready)
    finally:
        if not run.done:
            console.print("stopping the search after the current evaluation ...")
            run.stop(wait=60)
        if run.result is not None:
            console.print(f"run {run.run_id} {run.status}: {run.evaluated} evaluated; wrote "
                          f"{out_path}; replay with `zeronas navigate --store {store} "
                          f"--replay {run.run_id}`")
        elif run.error:
            console.print(f"[red]run {run.run_id} failed: {run.error}[/red]")


@app.command("report")
@user_errors
def report_cmd(
    run_json: Path = typer.Argument(..., help="Result JSON of `zeronas search` or `navigate`."),
    html: Path = typer.Option(Path("results/report.html"), "--html",
                              help="Where to write the self-contained HTML report."),
    data_dir: Path | None = typer.Option(
        None, help="Benchmark data for true accuracy (default: $ZERONAS_DATA)."),
) -> None:
    """Write the navigator's views of a finished run as one self-contained HTML file."""
    from zeronas.navigator.page import need
    from zeronas.navigator.report import write_report

    need("plotly")
    path = write_report(run_json, html, data_dir)
    _console().print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opens offline)")
