"""Catalogue of the drift statistics: names, the feature kinds each applies to, default thresholds.

Pure Python (no numpy, no pydantic): params loading (`retrain.config.monitor`) validates names
and fills thresholds from here without importing the statistics themselves. The functions live
in `retrain.monitor.stats`, which registers exactly these names and takes their kinds and
defaults from this catalogue (a test keeps the two lists equal). Adding a statistic: one entry
here, one registered function there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["numeric", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical")


@dataclass(frozen=True, slots=True)
class StatisticInfo:
    name: str
    kinds: frozenset[str]
    # True: drift when p_value < threshold (a significance level). False: score >= threshold.
    uses_p_value: bool
    default_threshold: float


CATALOGUE: dict[str, StatisticInfo] = {
    info.name: info
    for info in (
        # Two-sample Kolmogorov-Smirnov: drift when p < 0.05.
        StatisticInfo("ks", frozenset({"numeric"}), True, 0.05),
        # Chi-square test of homogeneity on the category counts: drift when p < 0.05.
        StatisticInfo("chisquare", frozenset({"categorical"}), True, 0.05),
        # Earth mover's distance / the reference's std (Evidently's default threshold).
        StatisticInfo("wasserstein", frozenset({"numeric"}), False, 0.1),
        # Population stability index: 0.2 is the usual "significant shift" line.
        StatisticInfo("psi", frozenset({"numeric", "categorical"}), False, 0.2),
        # Jensen-Shannon distance, base 2 (0..1).
        StatisticInfo("jensenshannon", frozenset({"numeric", "categorical"}), False, 0.1),
    )
}

DEFAULT_THRESHOLDS: dict[str, float] = {n: s.default_threshold for n, s in CATALOGUE.items()}


def statistic_names(kind: str = "any") -> list[str]:
    """Known statistic names (sorted), optionally only those that apply to `kind`."""
    return sorted(n for n, s in CATALOGUE.items() if kind == "any" or kind in s.kinds)


def check_statistic_name(name: str, kind: str = "any") -> None:
    """ValueError naming the known statistics (used by the params model's validators)."""
    if name not in CATALOGUE:
        known = ", ".join(statistic_names())
        raise ValueError(f"unknown drift statistic {name!r}; known statistics: {known}")
    if kind != "any" and kind not in CATALOGUE[name].kinds:
        fitting = ", ".join(statistic_names(kind))
        raise ValueError(
            f"statistic {name!r} does not apply to {kind} features; use one of: {fitting}"
        )
