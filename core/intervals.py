"""95% intervals for the evaluation's rates and means, without scipy.

Win rates use the Wilson score interval: unlike the normal approximation it stays inside
[0, 1] and behaves at 0/n and n/n, which small held-out sets hit often. Similarity means use
a seeded percentile bootstrap, so a report is reproducible to the digit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95


def z_value(confidence: float = CONFIDENCE) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def wilson(successes: int, total: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval for a proportion; 0 of 0 is the uninformative [0, 1]."""
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"wilson: need 0 <= successes <= total, got {successes}/{total}")
    if total == 0:
        return Interval(0.0, 0.0, 1.0)
    z = z_value(confidence)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == total else min(1.0, centre + half)
    return Interval(p, low, high)


def bootstrap_mean(
    values: Sequence[float], samples: int = 2000, seed: int = 0, confidence: float = CONFIDENCE
) -> Interval:
    """Percentile bootstrap interval of the mean; one value gives a zero-width interval."""
    if not values:
        raise ValueError("bootstrap_mean: no values")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, mean, mean)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(samples))
    tail = (1 - confidence) / 2
    low = means[int(math.floor(tail * (samples - 1)))]
    high = means[int(math.ceil((1 - tail) * (samples - 1)))]
    return Interval(mean, low, high)
