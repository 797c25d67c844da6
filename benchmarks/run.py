"""`make bench`: timings of the hot paths, each as a ratio to a baseline measured in the same run.

Run with ``make bench`` (or ``python benchmarks/run.py``). Prints one line per measurement.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from zeronas.hardware import count_flops, count_params
from zeronas.spaces import get_space


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_structural() -> None:
    """FLOPs/params of 20 NB201 networks on the meta device vs building them on the CPU."""
    sp = get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [sp.sample(rng) for _ in range(20)]

    def build_cpu() -> None:
        for a in archs:
            sp.to_torch(a)

    def meta_measures() -> None:
        for a in archs:
            with torch.device("meta"):
                net = sp.to_torch(a)
            count_params(net)
            count_flops(net, (3, 32, 32))

    base = _time(build_cpu) / len(archs)
    t = _time(meta_measures) / len(archs)
    print(f"nb201 params+flops (meta): {t * 1e3:.1f} ms/arch; "
          f"baseline build on CPU {base * 1e3:.1f} ms/arch; ratio {t / base:.2f}x")


if __name__ == "__main__":
    torch.set_num_threads(2)
    bench_structural()
