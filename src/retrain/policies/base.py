"""The policy registry: one function per retrain policy, registered by name.

Shaped like `retrain.monitor.stats`: each policy module registers a function
`(PolicyContext) -> PolicyDecision` under its name in `POLICIES`. The monitor (`retrain monitor`,
`policy.monitor`) and the replay (`replay.policies`) build a `PolicyContext` from what they read
and call `decide`; the same code decides in production and in the simulation.

A context carries what a policy may look at and nothing it may not: the newest *labelled* rows
(they arrive `label_delay` periods late in the replay), the *unlabelled* current rows, the
champion's labelled reference (its test window) and the labels that arrived since it, the
periods since the last retrain, the measured cost of a retrain, and the drift rule's decision
(computed lazily: only `drift` pays for the persistence windows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retrain.artifacts import PolicyDecision

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from retrain.config import Params
    from retrain.monitor.drift import Decision, DriftReport

PolicyFunction = Callable[["PolicyContext"], PolicyDecision]
POLICIES: dict[str, PolicyFunction] = {}
# Names older params used for the same policies (replay.policies: [never, monthly, monitor]).
ALIASES: dict[str, str] = {"monthly": "periodic", "monitor": "drift"}
POINT = 0.01  # one metric "point" (cost_aware's unit of gain)


@dataclass(frozen=True)
class Sample:
    """Rows the champion scored: its scores, the labels when known, the input columns."""

    scores: np.ndarray
    labels: np.ndarray | None = None
    features: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class PolicyContext:
    params: Params
    task: str
    metric: str  # the champion's primary metric (retrain.metrics)
    registered: float | None  # its registered (test) value
    periods_since_retrain: int  # periods since the last retrain (or the first champion)
    labelled: Sample | None = None  # the newest labelled rows the champion has not seen
    current: Sample | None = None  # the current period's rows, used without labels
    reference: Sample | None = None  # the champion's labelled reference (its test window)
    # labelled rows the champion never trained on, before the current period: its test window
    # and the labels that arrived since (the label-free estimate's calibration; None: reference)
    calibration: Sample | None = None
    # labelled rows (with their columns) before the newest labelled period: what a challenger
    # trains on (None: the reference)
    history: Sample | None = None
    retrain_usd: float | None = None  # measured cost of one retrain
    drift: Callable[[], tuple[DriftReport, Decision]] | None = None
    seed: int = 0


def register(name: str) -> Callable[[PolicyFunction], PolicyFunction]:
    def wrap(function: PolicyFunction) -> PolicyFunction:
        POLICIES[name] = function
        return function

    return wrap


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def decay_of(metric: str, registered: float, value: float) -> float:
    """How much worse `value` is than `registered` (positive = worse), whatever the direction."""
    from retrain.metrics import greater_is_better

    diff = registered - value
    return diff if greater_is_better(metric) else -diff


def trigger_of(
    metric: str, registered: float, decay: float | None, relative: float | None
) -> float:
    from retrain.metrics import decay_threshold

    return decay_threshold(metric, registered, decay, relative)


def rounded(value: Any) -> Any:
    return round(float(value), 6) if isinstance(value, float) else value


def decision(
    policy: str,
    fired: bool,
    reason: str,
    *,
    estimated: bool = False,
    event_type: str | None = None,
    score: float = 0.0,
    **evidence: Any,
) -> PolicyDecision:
    import math

    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else rounded(v))
        for k, v in evidence.items()
    }
    return PolicyDecision(
        policy=policy,
        fired=bool(fired),
        estimated=estimated,
        event_type=event_type if fired else None,  # type: ignore[arg-type]
        score=round(float(score), 6) if math.isfinite(float(score)) else 0.0,
        reason=reason,
        evidence=clean,
    )
