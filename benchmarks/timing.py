"""The one timing helper of the probe scripts: the median wall time of a call."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, repeats: int, warmup: int = 0) -> float:
    """Median milliseconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)
