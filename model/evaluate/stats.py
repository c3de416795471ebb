"""Statistics for the evaluation: bootstrap intervals, a paired sign-flip permutation test, Krippendorff's alpha.

numpy only (scipy is not a dependency). Every random draw uses a fixed seed, so a report is reproducible.

- ``bootstrap_interval``: the mean over cases with a percentile bootstrap interval (cases resampled with
  replacement; Efron & Tibshirani 1993, ch. 13).
- ``paired_test``: two systems scored on the same cases; the mean of the per-case differences, its bootstrap
  interval, and the two-sided p-value of the sign-flip permutation test (Fisher 1935; Good, *Permutation Tests*,
  2005): under "no difference" each case's difference is as likely positive as negative. Exact over all 2^n sign
  patterns for n <= ``EXACT_MAX``, else Monte Carlo with the (count + 1) / (draws + 1) correction.
- ``krippendorff_alpha``: agreement of raters from the coincidence matrix (Krippendorff, *Computing Krippendorff's
  Alpha-Reliability*, 2011), interval or ordinal metric, missing ratings allowed.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

RESAMPLES = 2000
PERMUTATIONS = 20000
EXACT_MAX = 16  # 2^16 sign patterns: exact in well under a second
SEED = 20260412
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor`` times the mean (a total over n cases is n times the mean)."""
        return Interval(self.mean * factor, self.low * factor, self.high * factor, self.n)


@dataclass(frozen=True)
class PairedResult:
    """System a minus system b over the same cases."""

    a: str
    b: str
    difference: Interval
    p_value: float
    method: str


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> Interval:
    """Mean and percentile bootstrap interval over cases. One case gives a zero-width interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values")
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(mean, float(low), float(high), int(data.size))


def sign_flip_p(differences: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided p-value of the paired sign-flip permutation test on the mean difference."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        raise ValueError("no values")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))  # ties with the observed mean count as extreme
    if d.size <= EXACT_MAX:
        signs = 1.0 - 2.0 * ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1)  # every sign pattern
        return float(np.mean(np.abs(signs @ d) / d.size >= observed - tolerance))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, permutations, 5000):  # in blocks: bounded memory for large n
        signs = rng.choice((1.0, -1.0), size=(min(5000, permutations - start), d.size))
        hits += int(np.sum(np.abs(signs @ d) / d.size >= observed - tolerance))
    return (hits + 1) / (permutations + 1)


def paired_test(a: str, b: str, values_a: Sequence[float], values_b: Sequence[float]) -> PairedResult:
    """Compare system ``a`` with ``b``: values are per case, in the same case order."""
    if len(values_a) != len(values_b):
        raise ValueError("paired values need the same cases")
    differences = [x - y for x, y in zip(values_a, values_b, strict=True)]
    method = "exact sign-flip" if len(differences) <= EXACT_MAX else f"sign-flip, {PERMUTATIONS} permutations"
    return PairedResult(a, b, bootstrap_interval(differences), sign_flip_p(differences), method)


Metric = Literal["interval", "ordinal"]


def krippendorff_alpha(units: Mapping[Hashable, Sequence[float]], metric: Metric = "interval") -> float | None:
    """Krippendorff's alpha over ``units`` (item -> the values its raters gave; missing ratings are just absent).

    Units with fewer than two values are not pairable and drop out. Returns None when nothing is pairable or all
    pairable values are equal (no variation: alpha is undefined).
    """
    pairable = [list(map(float, v)) for v in units.values() if len(v) >= 2]
    if not pairable:
        return None
    levels = sorted({x for values in pairable for x in values})
    index = {x: i for i, x in enumerate(levels)}
    # The coincidence matrix: each ordered pair of values within a unit adds 1 / (m_u - 1).
    o = np.zeros((len(levels), len(levels)))
    for values in pairable:
        weight = 1.0 / (len(values) - 1)
        for i, j in itertools.permutations(range(len(values)), 2):
            o[index[values[i]], index[values[j]]] += weight
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    if metric == "interval":
        grid = np.asarray(levels)
        delta = (grid[:, None] - grid[None, :]) ** 2
    elif metric == "ordinal":
        cumulative = np.concatenate(([0.0], np.cumsum(n_c)))
        # delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2
        lo, hi = (
            np.minimum.outer(range(len(levels)), range(len(levels))),
            np.maximum.outer(range(len(levels)), range(len(levels))),
        )
        delta = (cumulative[hi + 1] - cumulative[lo] - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    else:
        raise ValueError(f"unknown metric {metric!r}")
    expected = float((np.outer(n_c, n_c) * delta).sum())
    if expected == 0:
        return None
    observed = float((o * delta).sum())
    return 1.0 - (n - 1) * observed / expected
