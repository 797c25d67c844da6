"""``zeronas transfer-matrix``: the TG-NAS leave-one-space-out matrix.

Registered on the main typer app when this module is imported (``zeronas.cli`` imports it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from zeronas.cli import CostReadoutOpt, _console, _progress, app, user_errors
from zeronas.errors import ZeronasError


@app.command("transfer-matrix")
@user_errors
def transfer_matrix_cmd(
    spaces: str = typer.Option(
        "nb201:cifar10,darts:cifar10,tnb101_micro:class_scene,tnb101_macro:class_scene",
        help="Spaces with ground truth, each as space:dataset (comma-separated)."),
    seed: int = typer.Option(0, help="Seed of the splits, the training and the samples."),
    eval_sample: str = typer.Option(
        "1000", help="Architectures scored per space (seeded), or 'all'."),
    out: Path = typer.Option(Path("results/transfer_matrix.json"), help="Result JSON."),
    weights_dir: Path | None = typer.Option(
        None, help="Also save the leave-one-out weights (tgnas_loo_<space>.pt) and one "
                   "trained on every space (tgnas_all.pt) here."),
    nested: bool = typer.Option(
        True, help="Choose each leave-one-out predictor's factor on its learned part by "
                   "leave-one-space-out inside its training spaces (never the scored one)."),
    plot: bool = typer.Option(True, help="Write the heat map (needs matplotlib)."),
    cost_readout: CostReadoutOpt = "total",
) -> None:
    """Train TG-NAS on each space, score every other; print and write the Spearman matrix."""
    from zeronas.bench.correlate import parse_sample
    from zeronas.predictors.tgnas.model import GCNConfig
    from zeronas.predictors.tgnas.transfer import (
        parse_spaces,
        planned_training_sets,
        transfer_matrix,
    )

    config = GCNConfig(cost_readout=cost_readout)

    chosen = parse_spaces(spaces)
    n = parse_sample(eval_sample, "--eval-sample")
    console = _console()
    steps = len(chosen) + len(planned_training_sets(list(chosen), nested,
                                                    weights_dir is not None))
    with _progress(console) as progress:
        task = progress.add_task("transfer matrix", total=steps)

        started = [0]

        def on_step(message: str) -> None:  # called before each step: the previous is done
            progress.update(task, completed=started[0], description=message)
            started[0] += 1

        result = transfer_matrix(chosen, seed=seed, eval_sample=n, weights_dir=weights_dir,
                                 command="zeronas " + " ".join(sys.argv[1:]), nested=nested,
                                 on_step=on_step, config=config)
        progress.update(task, completed=steps)
    table = Table(title="TG-NAS transfer: Spearman (rows trained on, columns scored; "
                        "* held-out split of the row's own space)")
    table.add_column("trained on")
    for s in result.spaces:
        table.add_column(f"{s}\n{result.datasets[s]}", justify="right")
    for i, s in enumerate(result.spaces):
        table.add_row(s, *(f"{result.spearman[i, j]:.3f}" + ("*" if i == j else "")
                           for j in range(len(result.spaces))))
    table.add_row("all others (LOO)",
                  *(f"{result.leave_one_out[s]['spearman']:.3f}" for s in result.spaces))
    loo = result.leave_one_out
    if any("learned_scale" in loo[s] for s in result.spaces):
        table.add_row("  its learned scale",
                      *(f"{loo[s]['learned_scale']:g}" if "learned_scale" in loo[s] else "1"
                        for s in result.spaces))
        table.add_row("  at scale 1", *(f"{loo[s].get('unscaled', loo[s])['spearman']:.3f}"
                                       for s in result.spaces))
    table.add_row("params", *(f"{result.params[s]['spearman']:.3f}" for s in result.spaces))
    console.print(table)
    if result.all_spaces:
        console.print(f"predictor trained on every space: learned scale "
                      f"{result.all_spaces['learned_scale']:g} (chosen on "
                      "leave-one-graph-family-out folds)")
    summary = result.summary()
    console.print(f"leave-one-out beats params on {len(summary['beats_params_on'])} of "
                  f"{len(result.spaces)} spaces ({', '.join(summary['beats_params_on']) or '-'});"
                  f" worst loss {summary['worst_loss_to_params']:.3f}")
    written = [result.write(out)]
    if plot:
        try:
            written.append(result.plot(out))
        except ZeronasError as exc:
            console.print(f"[yellow]no plot: {exc}[/yellow]")
    for p in written:
        console.print(f"wrote {p}")
