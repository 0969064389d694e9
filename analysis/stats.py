"""The project's statistics, one of each: Wilson intervals, McNemar's test, bootstrap resampling.

Every page, probe, gate and report that states an interval or a p-value gets it from here, so the
same numbers are computed the same way wherever they are shown:

- `wilson_interval`: 95% Wilson score interval of a proportion (accuracy, recall, a slice's accuracy,
  a probe's failure rate); vectorised, and plain floats for plain numbers.
- `mcnemar` / `mcnemar_test`: McNemar's test on paired outcomes (Compare's "McNemar p", the per-slice
  deltas and Robustness's before/after probe comparison), always the exact binomial test.
- `bootstrap_counts` / `percentile_interval`: resamples of the examples (drawn in bounded chunks)
  and the percentile interval of a bootstrap distribution.

Calibration (expected calibration error, the reliability table) stays with the other metrics of one
prediction table in `analysis.metrics` (`table_calibration`).

Only numpy and scipy; nothing here knows about models, tables or pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile, scipy.stats.norm.ppf(0.975)

# --- Wilson score interval --------------------------------------------------------------------------


def wilson_interval(successes, n, z: float = Z_95):
    """95% Wilson score interval of the proportion successes / n (well behaved for small n and rates near 0 or 1).

    Works element-wise on arrays (returns two arrays) and on plain numbers (returns two floats).
    NaN where n is 0; the bounds are clipped to [0, 1] so rounding never puts them outside.
    """
    scalar = np.ndim(successes) == 0 and np.ndim(n) == 0
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    if scalar:
        return float(low), float(high)
    return low, high


# --- McNemar's test ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemar:
    """`fixed`: wrong before, right after. `broken`: right before, wrong after. Only these discordant pairs count.

    `statistic` is min(fixed, broken), the binomial count the p-value is computed from.
    """

    fixed: int
    broken: int
    statistic: float
    p_value: float
    method: str = "exact"  # always the exact binomial test (see `mcnemar`)

    @property
    def discordant(self) -> int:
        return self.fixed + self.broken


def mcnemar(fixed: int, broken: int) -> McNemar:
    """McNemar's test of "no difference" from the two discordant counts: the exact two-sided binomial test.

    Under the null hypothesis each discordant pair is fixed or broken with probability 1/2, so
    p = P(a Binomial(fixed + broken, 1/2) count at least as far from the middle as the one seen)
    (what statsmodels' `mcnemar(table, exact=True)` computes). It is used for every number of pairs:
    it is valid for few disagreements, where the chi-square approximation is not, it costs next to
    nothing for many, and one policy means Compare and Robustness report the same p for the same counts.
    """
    fixed, broken = int(fixed), int(broken)
    n = fixed + broken
    if n == 0:
        return McNemar(fixed, broken, 0.0, 1.0)
    low = min(fixed, broken)
    p = _scipy_stats.binomtest(low, n, 0.5, alternative="two-sided").pvalue
    return McNemar(fixed, broken, float(low), float(min(1.0, p)))


def mcnemar_test(correct_before, correct_after) -> McNemar:
    """McNemar's test of "both checkpoints are equally accurate" on paired correctness (boolean per example)."""
    before = np.asarray(correct_before, dtype=bool)
    after = np.asarray(correct_after, dtype=bool)
    return mcnemar(int(np.sum(~before & after)), int(np.sum(before & ~after)))


# --- bootstrap --------------------------------------------------------------------------------------

_BOOTSTRAP_CELLS = 4_000_000  # counts held in memory at once (resamples x groups)


def bootstrap_counts(code: np.ndarray, n_groups: int, n_boot: int, seed: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Bootstrap resamples of the examples as counts per group: yields (start, stop, counts (stop-start, n_groups)).

    `code[i]` is example i's group. Resampling the n examples with replacement and counting per group is drawing the
    counts from a multinomial(n, group sizes / n), so that is what is drawn: n_boot x n_groups numbers instead of
    n_boot x n indices (at 100k examples and 2,000 resamples, milliseconds instead of seconds), the same distribution.
    Drawn in chunks so memory stays bounded; one generator, so the draws are the same whoever consumes them and
    however they are chunked.
    """
    rng = np.random.default_rng(seed)
    n = len(code)
    share = np.bincount(code, minlength=n_groups) / n
    chunk = max(1, min(n_boot, _BOOTSTRAP_CELLS // max(n_groups, 1)))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        yield start, stop, rng.multinomial(n, share, size=stop - start).astype(float)


def percentile_interval(values, level: float = 0.95, axis: int = 0):
    """Percentile interval of a bootstrap distribution along `axis`: the (1−level)/2 and (1+level)/2 quantiles."""
    alpha = (1 - level) / 2
    return np.quantile(values, alpha, axis=axis), np.quantile(values, 1 - alpha, axis=axis)
