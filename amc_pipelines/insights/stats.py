"""The statistics behind findings, on numpy arrays of series x weeks (NaN: no value that week).

* rolling robust baselines: median and MAD of the previous ``window`` weeks (the current week never
  in its own baseline), defined once ``warmup`` of them have values;
* count tests for rates: observed count k of n trials against the baseline's counts (the exact
  two-sample Poisson test, conditional binomial), the baseline a trimmed pooled rate; over-dispersion (real weeks vary more
  than binomial noise) estimated from the baseline weeks and divided out of the counts, so a large
  campaign's ordinary week-to-week wobble is not "significant", while a small campaign's counts carry
  too little evidence to be;
* Benjamini-Hochberg q-values across every test of a run;
* Theil-Sen slope with the Mann-Kendall test (Kendall's tau against time).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

MAD_TO_SD = 1.4826
# median of chi-square(1): the median squared Pearson residual of a well-specified count model
CHI2_1_MEDIAN = 0.4549


def lagged_windows(values: np.ndarray, window: int) -> np.ndarray:
    """For each week t the previous ``window`` weeks (t - window .. t - 1): shape (series, weeks, window)."""
    series, weeks = values.shape
    padded = np.concatenate([np.full((series, window), np.nan), values], axis=1)
    return sliding_window_view(padded, window, axis=1)[:, :weeks, :]


def rolling_baseline(values: np.ndarray, *, window: int, warmup: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, MAD-based sd and count of the previous ``window`` weeks' values; NaN before the warm-up."""
    lagged = lagged_windows(values, window)
    count = np.sum(np.isfinite(lagged), axis=2)
    with np.errstate(all="ignore"), _quiet():
        median = np.nanmedian(lagged, axis=2)
        mad = np.nanmedian(np.abs(lagged - median[..., None]), axis=2)
    ready = count >= warmup
    median = np.where(ready, median, np.nan)
    return median, np.where(ready, MAD_TO_SD * mad, np.nan), count


def pooled_rate(k: np.ndarray, n: np.ndarray, *, window: int, warmup: int, trim: int = 2) -> np.ndarray:
    """Baseline rate of each week: sum k / sum n over the previous ``window`` weeks, leaving out the
    ``trim`` highest and lowest weekly rates (robust to a past anomaly, and unlike a median of weekly
    rates not biased by the discreteness of small counts). NaN before ``warmup`` weeks with trials."""
    k_lag = lagged_windows(np.where(n > 0, k, np.nan), window)
    n_lag = lagged_windows(np.where(n > 0, n, np.nan), window)
    with np.errstate(all="ignore"):
        rate = k_lag / n_lag
    finite = np.isfinite(rate)
    count = finite.sum(axis=2)
    ranks = np.argsort(np.argsort(np.where(finite, rate, np.inf), axis=2, kind="stable"), axis=2, kind="stable")
    cut = np.where(count >= 4 * trim, trim, np.where(count >= 4, 1, 0))[..., None]
    keep = finite & (ranks >= cut) & (ranks < count[..., None] - cut)
    trials = np.where(keep, n_lag, 0).sum(axis=2)
    with np.errstate(all="ignore"):
        pooled = np.where(keep, k_lag, 0).sum(axis=2) / trials
    ready = count >= warmup
    return np.where(ready, pooled, np.nan), np.where(ready, trials, np.nan)


def dispersion(k_lagged: np.ndarray, n_lagged: np.ndarray, rate: np.ndarray, *, share: bool) -> np.ndarray:
    """Over-dispersion factor (>= 1) of the baseline weeks' counts around the baseline rate."""
    expected = n_lagged * rate[..., None]
    variance = expected * (1 - rate[..., None]) if share else expected
    with np.errstate(all="ignore"), _quiet():
        squared = np.where(variance > 0, (k_lagged - expected) ** 2 / variance, np.nan)
        phi = np.nanmedian(squared, axis=2) / CHI2_1_MEDIAN
    return np.where(np.isfinite(phi), np.maximum(phi, 1.0), np.nan)


def count_test(k: np.ndarray, n: np.ndarray, rate: np.ndarray, phi: np.ndarray, n_base: np.ndarray) -> np.ndarray:
    """Two-sided exact p-value that this week's k of n has the baseline's rate (k_base = rate x n_base).

    The two-sample Poisson test: given k + k_base events, k ~ Binomial(k + k_base, n / (n + n_base))
    when the rates are equal. So the baseline's own sampling error counts (a baseline of a handful of
    clicks proves little), and counts are deflated by the dispersion ``phi`` first.
    """
    k_base = rate * n_base
    valid = (np.isfinite(k) & np.isfinite(n) & np.isfinite(k_base) & np.isfinite(phi) & (n > 0) & (n_base > 0)
             & (phi > 0) & (rate > 0))
    p = np.full(k.shape, np.nan)
    if not valid.any():
        return p
    x = k[valid] / phi[valid]
    total = np.maximum(np.round((k[valid] + k_base[valid]) / phi[valid]), 1)
    x = np.minimum(x * total * phi[valid] / (k[valid] + k_base[valid]), total)  # keep x's share when rounding
    share = n[valid] / (n[valid] + n_base[valid])
    lower = stats.binom.cdf(np.floor(x), total, share)
    upper = stats.binom.sf(np.ceil(x) - 1, total, share)
    p[valid] = np.minimum(1.0, 2 * np.minimum(lower, upper))
    return p


def robust_z_test(value: np.ndarray, median: np.ndarray, scale: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Two-sided p-value of (value - median) / scale, Student t with count - 1 degrees of freedom."""
    with np.errstate(all="ignore"):
        z = (value - median) / scale
        p = 2 * stats.t.sf(np.abs(z), np.maximum(count - 1, 1))
    return np.where(np.isfinite(z), p, np.nan)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values of a flat array of p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    if m == 0:
        return q
    order = finite[np.argsort(p[finite], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def theil_sen_mann_kendall(values: np.ndarray) -> tuple[float, float, float, float]:
    """(slope per step, intercept, Kendall tau, two-sided Mann-Kendall p) of a series with NaNs dropped."""
    y = np.asarray(values, dtype=float)
    x = np.flatnonzero(np.isfinite(y)).astype(float)
    y = y[np.isfinite(y)]
    if len(y) < 3 or np.all(y == y[0]):
        return 0.0, float(np.nanmedian(y)) if len(y) else np.nan, 0.0, 1.0
    slope, intercept, _, _ = stats.theilslopes(y, x)
    tau = stats.kendalltau(x, y)
    return float(slope), float(intercept), float(tau.statistic), float(tau.pvalue)


class _quiet:
    """Silence numpy's 'All-NaN slice' warnings inside nan-aggregates (an empty baseline is expected)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)
