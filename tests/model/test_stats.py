from __future__ import annotations

import math

import numpy as np
import pytest

from rtletter.model.evaluate.stats import bootstrap_interval, krippendorff_alpha, paired_test, sign_flip_p


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_cases() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 40, 160):
        values = rng.normal(0.4, 0.1, size=n)
        interval = bootstrap_interval(values)
        assert interval.mean == pytest.approx(float(values.mean()))
        assert interval.low < interval.mean < interval.high
        assert interval.n == n
        widths.append(interval.high - interval.low)
    assert widths[0] > widths[1] > widths[2]
    # width about 2 * 1.96 * sd / sqrt(n): 0.2 * 1.96 / sqrt(160) = 0.031
    assert widths[2] == pytest.approx(2 * 1.96 * 0.1 / math.sqrt(160), rel=0.25)


def test_bootstrap_interval_is_reproducible_and_degenerates_sensibly() -> None:
    values = [0.1, 0.5, 0.2, 0.9, 0.4]
    assert bootstrap_interval(values) == bootstrap_interval(values)
    single = bootstrap_interval([0.3])
    assert (single.low, single.mean, single.high) == (0.3, 0.3, 0.3)
    constant = bootstrap_interval([2.0] * 8)
    assert constant.low == constant.high == 2.0
    with pytest.raises(ValueError):
        bootstrap_interval([])


def test_sign_flip_p_small_for_a_consistent_difference_and_one_for_identical_systems() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0.1, 0.3, size=20)
    tuned = base + rng.uniform(0.05, 0.15, size=20)  # better on every case
    result = paired_test("finetuned", "base", list(tuned), list(base))
    assert result.p_value < 0.001
    assert result.difference.low > 0 and result.difference.mean == pytest.approx(float((tuned - base).mean()))
    assert "permutations" in result.method  # 20 cases: Monte Carlo
    same = paired_test("finetuned", "base", list(base), list(base))
    assert same.p_value == 1.0 and same.difference.mean == 0.0
    noise = paired_test("a", "b", list(rng.normal(0, 1, 30)), list(rng.normal(0, 1, 30)))
    assert noise.p_value > 0.05


def test_exact_sign_flip_p_matches_a_hand_count_of_sign_patterns() -> None:
    # Six positive differences: only all-plus and all-minus reach |mean| = 1, so p = 2 / 2^6.
    assert sign_flip_p([1.0] * 6) == pytest.approx(2 / 64)
    # Differences 3, 1, -1 (observed sum 3): signed sums 3s1 + s2 - s3 are 3, 5, 1, 3 for s1 = +1 and their
    # negatives for s1 = -1, so 6 of the 8 patterns reach |sum| >= 3.
    assert sign_flip_p([3.0, 1.0, -1.0]) == pytest.approx(6 / 8)


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units, values 1-5,
# missing values; the paper gives alpha 0.849 (interval) and 0.815 (ordinal).
_PAPER = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_krippendorff_alpha_matches_the_papers_worked_example() -> None:
    units = {u: [row[u] for row in _PAPER if row[u] is not None] for u in range(12)}
    assert krippendorff_alpha(units, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(units, "ordinal") == pytest.approx(0.815, abs=5e-4)


def test_krippendorff_alpha_hand_computed_perfect_and_undefined() -> None:
    # Two raters, units (1,1), (1,2), (2,2): coincidences o11 = 2, o12 = o21 = 1, o22 = 2; n1 = n2 = 3, n = 6.
    # Interval: alpha = 1 - (n - 1) * (o12 + o21) / (2 * n1 * n2) = 1 - 5 * 2 / 18 = 4/9.
    assert krippendorff_alpha({"a": [1, 1], "b": [1, 2], "c": [2, 2]}, "interval") == pytest.approx(4 / 9)
    # Ordinal with two values: delta12 = (n1 + n2 - (n1 + n2) / 2)^2 = 9 cancels, the same 4/9.
    assert krippendorff_alpha({"a": [1, 1], "b": [1, 2], "c": [2, 2]}, "ordinal") == pytest.approx(4 / 9)
    assert krippendorff_alpha({"a": [1, 1, 1], "b": [4, 4], "c": [2, 2], "d": [3]}, "ordinal") == 1.0
    assert krippendorff_alpha({"a": [3, 3], "b": [3, 3]}) is None  # no variation
    assert krippendorff_alpha({"a": [3], "b": [4]}) is None  # nothing pairable
    # Systematic disagreement is worse than chance: one rater always 4, the other always 3.
    assert krippendorff_alpha({n: [4, 3] for n in range(10)}) == pytest.approx(1 - 19 * 20 / 200)
