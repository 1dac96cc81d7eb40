"""The monitor's pure core: per-feature drift, prediction drift, performance decay, and the
trigger decision over the current window and the windows before it. No I/O here;
`retrain.monitor.command` does that.

Persistence is stateless: the decision gets the signals of the windows just before the current
one, recomputed by the same run from the data it reads (`earlier`), not a counter carried
between runs, so nothing can be lost (an evicted cache), replayed twice (a re-run) or kept
across a new champion (every window is compared with the current champion's reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from retrain.artifacts import WindowSignal
from retrain.errors import UserError
from retrain.monitor.stats import StatResult, compare

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from retrain.config.monitor import MonitorSection, TriggerPolicy


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    result: StatResult
    missing_reference: float
    missing_current: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            **self.result.to_dict(),
            "missing_reference": round(self.missing_reference, 6),
            "missing_current": round(self.missing_current, 6),
        }


@dataclass(frozen=True)
class Performance:
    metric: str
    greater_is_better: bool
    registered: float
    current: float
    n_labelled: int

    @property
    def decay(self) -> float:
        """How much worse the current value is (positive = worse), whatever the direction."""
        diff = self.registered - self.current
        return diff if self.greater_is_better else -diff

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decay": self.decay}


@dataclass(frozen=True)
class DriftReport:
    features: tuple[FeatureDrift, ...]
    prediction: StatResult | None
    performance: Performance | None
    n_reference: int
    n_current: int

    @property
    def drifted(self) -> list[FeatureDrift]:
        # Largest effect first: the payload's feature list (max 20) names the worst ones.
        worst = [f for f in self.features if f.result.drifted]
        return sorted(worst, key=lambda f: -f.result.score / f.result.threshold)

    @property
    def drift_share(self) -> float:
        return len(self.drifted) / len(self.features) if self.features else 0.0


@dataclass(frozen=True)
class Decision:
    drift_signal: bool
    prediction_signal: bool
    decay_signal: bool
    consecutive: int
    required: int
    action: str  # "retrain" | "none"
    event_type: str | None
    reason: str
    score: float
    windows: tuple[WindowSignal, ...] = field(default=(), repr=False)  # oldest first

    @property
    def signal(self) -> bool:
        return self.drift_signal or self.prediction_signal or self.decay_signal


def feature_kind(column: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "categorical"
    return "numeric"


def monitored_columns(frame: pd.DataFrame, settings: MonitorSection) -> list[str]:
    if settings.features:
        missing = [c for c in settings.features if c not in frame.columns]
        if missing:
            raise UserError(
                f"monitor.features names column(s) the features do not have: {missing}",
                f"use columns of the features table, e.g. {', '.join(map(str, frame.columns[:8]))}",
            )
        return list(settings.features)
    import pandas as pd

    excluded = set(settings.exclude)
    # Timestamps are not distributions to compare (every window has its own): skipped unless
    # listed in monitor.features.
    return [
        c
        for c in frame.columns
        if c not in excluded and not pd.api.types.is_datetime64_any_dtype(frame[c])
    ]


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: MonitorSection
) -> tuple[FeatureDrift, ...]:
    """One statistic per monitored column, chosen by its kind (numeric / categorical)."""
    columns = monitored_columns(reference, settings)
    absent = [c for c in columns if c not in current.columns]
    if absent:
        raise UserError(
            f"the current window lacks monitored column(s) {absent}",
            "extract both windows with the same feature definitions",
        )
    if reference.empty or current.empty:
        which = "reference" if reference.empty else "current"
        raise UserError(
            f"the {which} window has no rows", "move the windows inside the data's time range"
        )
    results = []
    for column in columns:
        ref, cur = reference[column], current[column]
        kind = feature_kind(ref)
        if feature_kind(cur) != kind:  # e.g. numbers became strings: a schema break is drift
            kind = "categorical"
        name = settings.numeric_statistic if kind == "numeric" else settings.categorical_statistic
        values_ref, values_cur, missing_ref, missing_cur = _prepared(ref, cur, kind)
        result = compare(
            name,
            values_ref,
            values_cur,
            kind=kind,  # type: ignore[arg-type]
            threshold=settings.threshold(name),
            bins=settings.bins,
        )
        results.append(FeatureDrift(column, kind, result, missing_ref, missing_cur))
    return tuple(results)


def _prepared(
    ref: pd.Series, cur: pd.Series, kind: str
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Arrays for the statistic, and the missing share of each side.

    Categories are hashed once here (pandas.factorize over both windows; missing = -1), so
    the statistic and the missing shares work on integer codes instead of strings.
    """
    import numpy as np
    import pandas as pd

    if kind == "numeric":
        a = ref.to_numpy(dtype="float64", na_value=np.nan)
        b = cur.to_numpy(dtype="float64", na_value=np.nan)
        return a, b, _share(np.isnan(a)), _share(np.isnan(b))
    both = np.concatenate([ref.to_numpy(dtype=object), cur.to_numpy(dtype=object)])
    codes, _ = pd.factorize(both, use_na_sentinel=True)
    a, b = codes[: len(ref)], codes[len(ref) :]
    return a, b, _share(a == -1), _share(b == -1)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def prediction_drift(
    reference_scores: np.ndarray, current_scores: np.ndarray, settings: MonitorSection
) -> StatResult:
    """The champion's scores, reference vs current window. Multiclass (a probability matrix):
    the shares of the predicted classes, compared by monitor.categorical_statistic."""
    import numpy as np

    if np.ndim(reference_scores) == 2:
        name = settings.categorical_statistic
        return compare(
            name,
            np.argmax(reference_scores, axis=1),
            np.argmax(current_scores, axis=1),
            kind="categorical",
            threshold=settings.threshold(name),
            bins=settings.bins,
        )
    name = settings.prediction_statistic
    return compare(
        name,
        reference_scores,
        current_scores,
        kind="numeric",
        threshold=settings.threshold(name),
        bins=settings.bins,
    )


def champion_scores(pipeline: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Positive-class probability (classification), probability matrix (multiclass) or
    prediction (regression) per row."""
    from retrain.scoring import MissingColumns, score_frame

    try:
        return score_frame(pipeline, frame, task)
    except MissingColumns as exc:
        raise UserError(
            f"the champion needs column(s) the features lack: {exc.columns[:10]}",
            "monitor with the same feature definitions the champion was trained on",
        ) from None


def performance(
    metric: str, registered: float, y_true: np.ndarray, y_score: np.ndarray
) -> Performance | None:
    """The champion's primary metric on the labelled current rows vs its registered value."""
    import numpy as np

    from retrain.metrics import METRICS, greater_is_better, score

    if metric not in METRICS:
        raise UserError(
            f"the champion's primary metric {metric!r} is unknown to the monitor",
            f"register models with one of {', '.join(METRICS)}",
        )
    y_true = np.asarray(y_true)
    if y_true.size == 0 or (
        metric in {"roc_auc", "pr_auc", "roc_auc_ovr"} and np.unique(y_true).size < 2
    ):
        return None  # not enough labels to say anything
    current = score(metric, y_true, y_score)
    return Performance(metric, greater_is_better(metric), float(registered), current, y_true.size)


@dataclass(frozen=True)
class Signals:
    drift: bool
    prediction: bool
    decay: bool

    @property
    def any(self) -> bool:
        return self.drift or self.prediction or self.decay


def decay_trigger(perf: Performance, policy: TriggerPolicy) -> float:
    """The decay at which `perf`'s metric fires (monitor.trigger.decay / decay_relative, else
    the metric's default in retrain.metrics.DEFAULT_DECAY)."""
    from retrain.metrics import decay_threshold

    return decay_threshold(perf.metric, perf.registered, policy.decay, policy.decay_relative)


def signals_of(report: DriftReport, policy: TriggerPolicy) -> Signals:
    """This window's signals: feature drift share, prediction drift, performance decay."""
    return Signals(
        drift=report.drift_share >= policy.drift_share,
        prediction=bool(
            policy.prediction_drift and report.prediction is not None and report.prediction.drifted
        ),
        decay=report.performance is not None
        and report.performance.decay >= decay_trigger(report.performance, policy),
    )


def consecutive_signals(windows: Sequence[WindowSignal]) -> int:
    """How many of the latest windows in a row had a signal."""
    count = 0
    for entry in reversed(windows):
        if not entry.signal:
            break
        count += 1
    return count


def explain(report: DriftReport, policy: TriggerPolicy, signals: Signals, consecutive: int) -> str:
    parts = []
    if signals.decay and report.performance is not None:
        perf = report.performance
        parts.append(f"{perf.metric} {perf.current:.4f} vs registered {perf.registered:.4f}")
    if signals.drift:
        parts.append(
            f"{len(report.drifted)} of {len(report.features)} features drifted "
            f"share {report.drift_share:.2f} at least {policy.drift_share:.2f}"
        )
    if signals.prediction and report.prediction is not None:
        parts.append(f"prediction {report.prediction.statistic} {report.prediction.score:.3f}")
    if not parts:
        parts.append(
            f"no signal: drift share {report.drift_share:.2f} below {policy.drift_share:.2f}"
        )
    parts.append(f"{consecutive} of {policy.persistence} windows")
    return ", ".join(parts)


def event_of(report: DriftReport, signals: Signals) -> tuple[str | None, float]:
    """The repository_dispatch event type a retrain would send, and its score."""
    if signals.decay and report.performance is not None:
        return "performance-degraded", report.performance.decay
    if signals.any:
        return "drift-detected", report.drift_share
    return None, report.drift_share


def decide(
    report: DriftReport,
    policy: TriggerPolicy,
    window: str,
    earlier: Sequence[WindowSignal] = (),
) -> Decision:
    """Signals of the current window (`report`, `window` its "START..END"), combined with the
    signals of the windows just before it (`earlier`, oldest first): retrain when the latest
    `policy.persistence` windows all had a signal. `earlier` may stop at the first window
    without a signal (counting from the current one back): older ones cannot change the count.
    """
    signals = signals_of(report, policy)
    windows = (*earlier, WindowSignal(window=window, signal=signals.any))
    consecutive = consecutive_signals(windows)
    retrain = signals.any and consecutive >= policy.persistence
    event_type, score = event_of(report, signals)
    return Decision(
        signals.drift,
        signals.prediction,
        signals.decay,
        consecutive,
        policy.persistence,
        "retrain" if retrain else "none",
        event_type if retrain else None,
        explain(report, policy, signals, consecutive),
        float(score),
        windows,
    )
