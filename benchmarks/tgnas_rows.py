"""Print the results of `benchmarks/tgnas_rows.sh`: one line per correlate run and proxy,
"Kendall [95 % CI] / Spearman [95 % CI]", with the TG-NAS weights each run used (file, the
spaces it was trained on and the factor on its learned part, read off the run's protocol).

    .venv/bin/python benchmarks/tgnas_rows.py [results/repro/tgnas_rows]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tnb_table_md import _num, cell


def describe_weights(result: dict) -> str:
    """Which weights a tgnas result came from, in a few words (its protocol section is
    :func:`zeronas.predictors.tgnas.predictor.describe_weights`)."""
    proto = (result.get("protocol") or {}).get("predictor") or {}
    trained_on = "+".join(proto.get("trained_on") or ["?"])
    return (f"{Path(str(proto.get('weights', '?'))).name}, trained on {trained_on}, "
            f"factor {proto.get('learned_scale', '?')}")


def main(folder: str = "results/repro/tgnas_rows") -> None:
    for path in sorted(Path(folder).glob("*.json")):
        summary = json.loads(path.read_text())
        n = summary["n"]
        for proxy, result in summary["results"].items():
            ci = result.get("spearman_ci")
            spearman_ci = f" [{_num(ci[0], 2)}, {_num(ci[1], 2)}]" if ci else ""
            line = f"{path.stem:32s} n={n:<6d} {proxy:8s} {cell(result, n)}{spearman_ci}"
            if proxy == "tgnas":
                line += f"  ({describe_weights(result)})"
            print(line)


if __name__ == "__main__":
    main(*sys.argv[1:])
