"""Small statistics helpers: percentiles of latencies, median and spread of repetitions."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median and spread of one figure over the repetitions."""
    clean = [v for v in values if v == v]  # drop NaN
    if not clean:
        return {"values": list(values), "median": None, "min": None, "max": None, "spread": None}
    median = statistics.median(clean)
    low, high = min(clean), max(clean)
    return {
        "values": [round(v, 4) for v in values],
        "median": round(median, 4),
        "min": round(low, 4),
        "max": round(high, 4),
        # Relative spread: (max - min) / median, so "0.12" reads as ±6% around it.
        "spread": round((high - low) / median, 4) if median else None,
    }
