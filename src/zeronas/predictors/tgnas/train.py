"""Train a TG-NAS predictor from the command line (what ``zeronas train-predictor`` does)::

    python -m zeronas.predictors.tgnas.train --space nb201 --dataset cifar10 --out w.pt

The library code is in :mod:`zeronas.predictors.tgnas.training`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.training import train_predictor


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zeronas.predictors.tgnas.train --space nb201 --dataset cifar10 --out PATH``
    (what ``zeronas train-predictor`` does, without the progress bar)."""
    import argparse
    import json
    import shlex
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m zeronas.predictors.tgnas.train",
        description="Train a TG-NAS predictor on benchmark ground truth ($ZERONAS_DATA).",
    )
    parser.add_argument("--space", action="append", required=True,
                        help="space with ground truth (repeat for several)")
    parser.add_argument("--dataset", action="append", default=None,
                        help="ground-truth dataset: one for all spaces or one per --space")
    parser.add_argument("--out", type=Path, required=True, help="weight file to write (.pt)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=float, default=0.9,
                        help="fraction (<= 1) or number of architectures training may see")
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--data", default=None, help="data directory (default $ZERONAS_DATA)")
    args = parser.parse_args(argv)
    command = "python -m zeronas.predictors.tgnas.train " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    size: float | int = int(args.train_size) if args.train_size > 1 else args.train_size

    def show(done: int, total: int, info: Mapping[str, float]) -> None:
        if done % 10 == 0 or done == 1:
            print(f"epoch {done}/{total} loss {info['loss']:.4f} "
                  f"valid kendall {info.get('valid_kendall', math.nan):.4f}", flush=True)

    try:
        result = train_predictor(args.space, args.dataset or "cifar10", args.out, args.seed,
                                 train_size=size, valid_fraction=args.valid_fraction,
                                 data=args.data, on_progress=show, command=command)
    except ZeronasError as exc:
        parser.exit(2, f"error: {exc}\n")
    print(json.dumps({"out": str(result.path), "heldout": result.heldout,
                      "best_epoch": result.metadata["best_epoch"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
