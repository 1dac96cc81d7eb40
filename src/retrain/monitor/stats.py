"""Drift statistics, one function per statistic, registered by name.

Each function compares a reference sample with a current sample of one feature and returns a
small frozen `StatResult`. They are vectorised over rows with numpy/scipy; the caller loops over
the (few) features. Registered names are what params.yaml `monitor.*_statistic` refers to;
each statistic's name, kinds and default threshold are catalogued in `retrain.statnames`.

Kinds: `numeric` features (float/int columns) and `categorical` features (strings, codes).
Missing values: KS and Wasserstein drop them; PSI, Jensen-Shannon and chi-square count them as
one more bin/category, so a jump in the missing share is drift.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from retrain.errors import UserError
from retrain.statnames import CATALOGUE, Kind, check_statistic_name
from retrain.statnames import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS  # re-exported

# Proportion used instead of 0 in PSI, whose log ratio is undefined for empty bins.
PSI_EPSILON = 1e-4
# A numeric feature with at most this many distinct reference values is binned per value.
MAX_DISCRETE_BINS = 64


@dataclass(frozen=True, slots=True)
class StatResult:
    statistic: str
    score: float
    # None for statistics that are effect sizes only (PSI, Jensen-Shannon, Wasserstein).
    p_value: float | None
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        # JSON has no NaN/inf: undefined scores are written as null.
        out["score"] = self.score if math.isfinite(self.score) else None
        return out


StatFunction = Callable[..., StatResult]


@dataclass(frozen=True, slots=True)
class Statistic:
    name: str
    kinds: frozenset[str]
    # True: drift when p_value < threshold (a significance level). False: score >= threshold.
    uses_p_value: bool
    default_threshold: float
    function: StatFunction


STATISTICS: dict[str, Statistic] = {}


def register(name: str) -> Callable[[StatFunction], StatFunction]:
    """Register the function of the catalogued statistic `name` (kinds and default threshold
    come from retrain.statnames, the one list of names params validation also reads)."""
    info = CATALOGUE[name]

    def wrap(function: StatFunction) -> StatFunction:
        STATISTICS[name] = Statistic(
            name, info.kinds, info.uses_p_value, info.default_threshold, function
        )
        return function

    return wrap


def get_statistic(name: str, kind: str = "any") -> Statistic:
    try:
        check_statistic_name(name, kind)
    except ValueError as exc:
        raise UserError(
            str(exc), "set monitor.*_statistic in params.yaml to a known name"
        ) from None
    return STATISTICS[name]


def compare(
    name: str,
    reference: Any,
    current: Any,
    *,
    kind: Kind,
    threshold: float | None = None,
    bins: int = 10,
) -> StatResult:
    """Run the statistic `name` on one feature's reference and current samples."""
    stat = get_statistic(name, kind)
    limit = stat.default_threshold if threshold is None else float(threshold)
    return stat.function(
        np.asarray(reference), np.asarray(current), threshold=limit, bins=bins, kind=kind
    )


def _verdict(name: str, score: float, p_value: float | None, threshold: float) -> StatResult:
    if STATISTICS[name].uses_p_value:
        drifted = p_value is not None and p_value < threshold
    else:
        drifted = math.isfinite(score) and score >= threshold
    return StatResult(name, float(score), p_value, float(threshold), bool(drifted))


# --- sample preparation ----------------------------------------------------------------------


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]


def _numeric_histograms(
    reference: np.ndarray, current: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts over the reference's quantile bins plus one bin for missing values."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref_ok, cur_ok = ~np.isnan(ref), ~np.isnan(cur)
    ref_vals = ref[ref_ok]
    if ref_vals.size:
        inner = np.quantile(ref_vals, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        edges = np.unique(inner)
        if edges.size < bins - 1:
            # Repeated quantiles: a discrete feature (hour, month, engines). Give each of its
            # few distinct values a bin of its own (edges halfway between them), so mass moving
            # between two values is seen rather than merged into one bin.
            distinct = np.unique(ref_vals)
            if distinct.size <= MAX_DISCRETE_BINS:
                edges = (distinct[:-1] + distinct[1:]) / 2.0
    else:
        edges = np.empty(0)
    n_bins = edges.size + 1

    def counts(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, values[ok], side="right")
        hist = np.bincount(idx, minlength=n_bins).astype(np.float64)
        return np.append(hist, float(values.size - ok.sum()))

    return counts(ref, ref_ok), counts(cur, cur_ok)


def _category_histograms(
    reference: np.ndarray, current: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category over the union of both samples (missing = one more category).

    Integer inputs (e.g. codes from pandas.factorize) are hashed as integers, which is far
    cheaper than hashing the strings again.
    """
    import pandas as pd

    ref, cur = np.asarray(reference), np.asarray(current)
    if ref.dtype.kind in "iu" and cur.dtype.kind in "iu":
        both = np.concatenate([ref.astype(np.int64), cur.astype(np.int64)])
    else:
        both = np.concatenate([ref.astype(object), cur.astype(object)])
    codes, uniques = pd.factorize(both, use_na_sentinel=False)
    n = len(uniques)
    split = len(ref)
    ref_counts = np.bincount(codes[:split], minlength=n).astype(np.float64)
    cur_counts = np.bincount(codes[split:], minlength=n).astype(np.float64)
    return ref_counts, cur_counts


def _histograms(
    reference: np.ndarray, current: np.ndarray, bins: int, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    if kind == "numeric":
        return _numeric_histograms(reference, current, bins)
    return _category_histograms(reference, current)


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


# --- statistics ------------------------------------------------------------------------------


@register("ks")
def ks(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bins: int = 10,
    kind: str = "numeric",
) -> StatResult:
    """Two-sample Kolmogorov-Smirnov: score = max CDF gap D, drift when p < threshold."""
    from scipy import stats

    ref, cur = _finite(reference), _finite(current)
    if ref.size == 0 or cur.size == 0:
        return _verdict("ks", math.nan, None, threshold)
    # The exact method is quadratic in memory/time; the asymptotic one is accurate at n >= 1000.
    method = "auto" if min(ref.size, cur.size) < 1000 else "asymp"
    result = stats.ks_2samp(ref, cur, method=method)
    return _verdict("ks", float(result.statistic), float(result.pvalue), threshold)


@register("wasserstein")
def wasserstein(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bins: int = 10,
    kind: str = "numeric",
) -> StatResult:
    """Earth mover's distance divided by the reference's standard deviation (unit-free)."""
    from scipy import stats

    ref, cur = _finite(reference), _finite(current)
    if ref.size == 0 or cur.size == 0:
        return _verdict("wasserstein", math.nan, None, threshold)
    scale = float(ref.std())
    # A constant reference has no spread to normalise by; fall back to raw units.
    distance = float(stats.wasserstein_distance(ref, cur)) / (scale if scale > 0 else 1.0)
    return _verdict("wasserstein", distance, None, threshold)


@register("chisquare")
def chisquare(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bins: int = 10,
    kind: str = "numeric",
) -> StatResult:
    """Chi-square test of homogeneity on the 2 x k table of category counts."""
    from scipy import stats

    ref_counts, cur_counts = _category_histograms(reference, current)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return _verdict("chisquare", math.nan, None, threshold)
    if ref_counts.size < 2:  # one category on both sides: identical distributions
        return _verdict("chisquare", 0.0, 1.0, threshold)
    table = np.vstack([ref_counts, cur_counts])
    result = stats.chi2_contingency(table, correction=False)
    return _verdict("chisquare", float(result.statistic), float(result.pvalue), threshold)


@register("psi")
def psi(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bins: int = 10,
    kind: str = "numeric",
) -> StatResult:
    """Population stability index: sum((q - p) * ln(q / p)) over bins (empty bins -> 1e-4)."""
    ref_counts, cur_counts = _histograms(reference, current, bins, kind)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return _verdict("psi", math.nan, None, threshold)
    p = np.clip(_proportions(ref_counts), PSI_EPSILON, None)
    q = np.clip(_proportions(cur_counts), PSI_EPSILON, None)
    return _verdict("psi", float(np.sum((q - p) * np.log(q / p))), None, threshold)


@register("jensenshannon")
def jensenshannon(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    threshold: float,
    bins: int = 10,
    kind: str = "numeric",
) -> StatResult:
    """Jensen-Shannon distance (base 2, so 0 = identical and 1 = disjoint)."""
    from scipy.spatial import distance

    ref_counts, cur_counts = _histograms(reference, current, bins, kind)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return _verdict("jensenshannon", math.nan, None, threshold)
    score = float(distance.jensenshannon(ref_counts, cur_counts, base=2))
    return _verdict("jensenshannon", score, None, threshold)
