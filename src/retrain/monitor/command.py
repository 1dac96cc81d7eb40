"""`retrain monitor`: drift and performance check of the champion; exit 10 = retrain.

Reference = the champion's training window (registry tags `train_start`/`train_end`), or
`--reference-window` without a registry. Current = `monitor.current` (or `--current-window`).
Both windows are read through the feature store (extract's Feast core) or from a features
parquet (`--features`). Writes drift.json, summary.md and drift.png to --out. drift.json
carries the repository_dispatch event to send when the action is "retrain" (`retrain dispatch
--payload drift.json`).

Persistence (`monitor.trigger.persistence` = N) keeps no state between runs: when the current
window has a signal, the same run checks the N-1 windows of the same length just before it
(whole calendar months when the window is whole months) against the same reference, newest
first, and stops at the first without one. Retrain when the latest N windows all signal.

Without a time column (base.event_time null) there are no windows: the champion's training
rows (its hash split) vs a file of new rows, `--current-rows` / `monitor.current_rows`
(`retrain.monitor.untimed`), with persistence 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.artifacts import DriftResult, PolicyDecision, StageCost, VersionTags, WindowSignal
from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params
    from retrain.config.monitor import TriggerPolicy
    from retrain.monitor.drift import Decision, DriftReport, Performance
    from retrain.monitor.payload import DispatchEvent
    from retrain.policies import PolicyContext

log = logging.getLogger("retrain.monitor")

EXIT_RETRAIN = 10
DETECTOR = "retrain-monitor"
_PAYLOAD_FEATURE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
_PAYLOAD_REASON = re.compile(r"[^A-Za-z0-9 _.,:=%+-]")  # outside the payload's reason alphabet


@dataclass(frozen=True)
class Span:
    """[start, end) in UTC, with the label people read."""

    start: Any  # pandas Timestamp (UTC)
    end: Any
    label: str
    timezone: str = "UTC"

    def dates(self) -> tuple[str, str]:
        """[start, end) as calendar days in the window's time zone (the payload's window):
        half-open like every window in params.yaml; an end inside a day rounds up."""
        import pandas as pd

        start = self.start.tz_convert(self.timezone).normalize()
        end = self.end.tz_convert(self.timezone)
        if end != end.normalize():
            end = end.normalize() + pd.Timedelta(days=1)
        return f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"


def span_of_window(window: Any) -> Span:
    import pandas as pd

    start, end = window.bounds_utc()
    return Span(pd.Timestamp(start), pd.Timestamp(end), window.label(), window.timezone)


def _whole_months(span: Span) -> int:
    """How many calendar months `span` is in its time zone (0: not whole months)."""
    start = span.start.tz_convert(span.timezone)
    end = span.end.tz_convert(span.timezone)
    if start != start.normalize() or end != end.normalize() or start.day != 1 or end.day != 1:
        return 0
    return (end.year - start.year) * 12 + end.month - start.month


def earlier_spans(current: Span, count: int) -> list[Span]:
    """The `count` windows just before `current`, newest first, each as long as `current`:
    whole calendar months when `current` is whole months (October-December -> July-September),
    else the same duration."""
    import pandas as pd

    months = _whole_months(current)
    spans = []
    for k in range(1, count + 1):
        if months:
            start = current.start.tz_convert(current.timezone) - pd.DateOffset(months=k * months)
            end = current.start.tz_convert(current.timezone) - pd.DateOffset(
                months=(k - 1) * months
            )
            start, end = start.tz_convert("UTC"), end.tz_convert("UTC")
        else:
            length = current.end - current.start
            start, end = current.start - k * length, current.start - (k - 1) * length
        span = Span(start, end, "", current.timezone)
        first, last = span.dates()
        spans.append(Span(start, end, f"{first}..{last} ({current.timezone})", current.timezone))
    return spans


def window_key(span: Span) -> str:
    """The window's calendar days "START..END" (half-open): how drift.json names it."""
    start, end = span.dates()
    return f"{start}..{end}"


def parse_window(text: str, timezone: str, flag: str) -> Span:
    """`START..END` (ISO dates or datetimes, END exclusive) in `timezone`."""
    from pydantic import ValidationError

    from retrain.config.extract import Window

    start, sep, end = text.partition("..")
    if not sep:
        raise UserError(f"{flag} {text!r} is not START..END", f"e.g. {flag} 2013-10-01..2014-01-01")
    try:
        window = Window(
            start=dt.datetime.fromisoformat(start.strip()),
            end=dt.datetime.fromisoformat(end.strip()),
            timezone=timezone,
        )
    except (ValueError, ValidationError) as exc:
        raise UserError(f"{flag} {text!r}: {exc}", f"e.g. {flag} 2013-10-01..2014-01-01") from None
    return span_of_window(window)


def span_from_tags(tags: VersionTags, version: str, kind: str = "train") -> Span:
    """A window recorded on a registered version: [<kind>_start, <kind>_end] inclusive."""
    import pandas as pd

    keys = (f"{kind}_start", f"{kind}_end")
    values = {key: getattr(tags, key) for key in keys}
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise UserError(
            f"champion version {version} has no {'/'.join(missing)} tag(s)",
            "pass --reference-window START..END, or register models through `retrain push`",
        )
    try:
        start, end = pd.Timestamp(values[keys[0]]), pd.Timestamp(values[keys[1]])
    except ValueError as exc:
        raise UserError(
            f"champion version {version}: bad {keys[0]}/{keys[1]} tag ({exc})",
            "re-register the model through `retrain push`",
        ) from None
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    return Span(start, end + pd.Timedelta(1, "ns"), f"{start:%Y-%m-%d}..{end:%Y-%m-%d} (UTC)")


def reference_from_tags(tags: VersionTags, version: str) -> Span:
    """The champion's training window, from its `train_start`/`train_end` tags."""
    return span_from_tags(tags, version, "train")


def prediction_reference(
    frame: pd.DataFrame, tags: VersionTags | None, version: str | None, time_column: str
) -> pd.DataFrame | None:
    """Rows of the champion's test window: its scores there are out-of-sample, like the
    current window's (scores on its own training rows are over-confident). None: no tags."""
    span = champion_test_span(tags, version)
    if span is None:
        return None
    rows = rows_in(frame, span, time_column)
    return rows if len(rows) else None


def champion_test_span(tags: VersionTags | None, version: str | None) -> Span | None:
    """The champion's recorded test window, or None (no tags, or no test window recorded)."""
    if version is None or tags is None:
        return None
    try:
        return span_from_tags(tags, version, "test")
    except UserError:
        return None


def labelled_since_test(
    frame: pd.DataFrame, tags: VersionTags | None, version: str | None, current: Span, column: str
) -> pd.DataFrame | None:
    """Rows from the champion's test window up to the current window: out-of-sample for it,
    labelled by now (the label-free estimate's calibration). None: no tags or no such rows."""
    test = champion_test_span(tags, version)
    if test is None or current.start <= test.start:
        return None
    rows = rows_in(frame, Span(test.start, current.start, "since the test window"), column)
    return rows if len(rows) else None


def rows_in(frame: pd.DataFrame, span: Span, time_column: str) -> pd.DataFrame:
    times = frame[time_column]
    return frame.loc[(times >= span.start) & (times < span.end)].reset_index(drop=True)


def read_features(path: Path, time_column: str) -> pd.DataFrame:
    import pandas as pd

    from retrain.fileio import read_parquet

    frame = read_parquet(path, "features file", "run `retrain extract` or fix --features")
    if time_column not in frame.columns:
        raise UserError(
            f"{path} has no {time_column!r} column (base.event_time)",
            "the monitor needs event times to cut the reference and current windows",
        )
    times = frame[time_column]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise UserError(
            f"{path}: {time_column!r} is {times.dtype}, not a timestamp", "re-run extract"
        )
    if getattr(times.dt, "tz", None) is None:
        frame[time_column] = times.dt.tz_localize("UTC")
    return frame


def extract_features(
    params: Params,
    data_dir: Path,
    feast_dir: Path | None,
    spans: list[Span],
    table_path: Path | None = None,
) -> pd.DataFrame:
    """Both windows in one pass through extract's core function: the Feast store, or the
    user's table (extract.source: table; --features is then optional; `table_path`: the
    table's confined path, default extract.table.path)."""
    import pandas as pd

    from retrain.config.extract import Window
    from retrain.extraction import feast_features

    start = min(s.start for s in spans).to_pydatetime()
    end = max(s.end for s in spans).to_pydatetime()
    window = Window(start=start, end=end, timezone="UTC")
    if params.extract.source == "table":  # the same table and reading rules as extract
        from retrain.extraction import table_features

        table = params.extract.table
        assert table.path is not None  # enforced by ExtractSection
        base = params.base
        return table_features(
            table_path or table.path, table.encoding, base.key, base.target, base.event_time, window
        )
    feast = params.extract.feast
    frame, _ = feast_features(
        data_dir,
        feast_dir or feast.work_dir,
        window,
        feast.history_publish_lag_hours,
        feast.delayed_above_minutes,
        # must match training's features exactly, so it comes from the same params key
        feast.recent_horizon_hours,
    )
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


def check_windows(
    params: Params,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    pipeline: Any = None,
    tags: VersionTags | None = None,
    scores_reference: pd.DataFrame | None = None,
) -> DriftReport:
    """The core: feature drift, the champion's prediction drift and performance decay.

    Prediction drift compares the champion's scores on `scores_reference` (default: the
    reference window) with its scores on the current window."""
    from retrain.monitor.drift import DriftReport, champion_scores, feature_drift, prediction_drift

    settings, base = params.monitor, params.base
    task = base.task
    # The row identity, event time and target are never features, whatever monitor.exclude says.
    roles = [base.key_column, base.event_time, base.target, "label"]
    extra = [c for c in roles if c is not None and c not in settings.exclude]
    if extra:
        settings = settings.model_copy(update={"exclude": [*settings.exclude, *extra]})
    features = feature_drift(reference, current, settings)
    prediction = perf = None
    if pipeline is not None:
        base_rows = reference if scores_reference is None else scores_reference
        ref_scores = champion_scores(pipeline, base_rows, task)
        cur_scores = champion_scores(pipeline, current, task)
        prediction = prediction_drift(ref_scores, cur_scores, settings)
        perf = champion_performance(params, pipeline, current, tags)
    return DriftReport(features, prediction, perf, len(reference), len(current))


def champion_performance(
    params: Params, pipeline: Any, current: pd.DataFrame, tags: VersionTags | None
) -> Performance | None:
    """The champion's registered primary metric vs its value on the labelled current rows
    (None: no registered value, or no labels yet)."""
    from retrain.monitor.drift import champion_scores, performance
    from retrain.splitting import derive_label

    base = params.base
    metric = tags.primary_metric if tags is not None else None
    registered = tags.metrics.get(metric) if tags is not None and metric else None
    if not metric or registered is None or base.target not in current.columns:
        return None
    labelled, _ = derive_label(current, base)
    if labelled.empty:
        return None
    scores = champion_scores(pipeline, labelled, base.task)
    return performance(metric, registered, labelled["label"].to_numpy(), scores)


def dispatch_event(
    params: Params, report: DriftReport, made: PolicyDecision, current: Span
) -> DispatchEvent | None:
    """The repository_dispatch event for a policy that fired, validated by the payload schema."""
    import math

    from retrain.monitor.payload import MAX_EVIDENCE, build_event

    if not made.fired or made.event_type is None:
        return None
    start, end = current.dates()
    names = [f.feature for f in report.drifted if _PAYLOAD_FEATURE.fullmatch(f.feature)]
    statistic = params.monitor.numeric_statistic
    evidence = {
        key: float(value)
        for key, value in made.evidence.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and _PAYLOAD_FEATURE.fullmatch(key)
    }
    detector = f"{DETECTOR}:{statistic}" if made.policy == "drift" else f"{DETECTOR}:{made.policy}"
    return build_event(
        made.event_type,
        model=params.base.model_name,
        reason=_PAYLOAD_REASON.sub(" ", made.reason)[:200].rstrip(" ,"),
        window_start=start,
        window_end=end,
        score=round(made.score, 6),
        features=names[:20],
        detector=detector,
        policy=made.policy,
        estimated=made.estimated,
        evidence=dict(list(evidence.items())[:MAX_EVIDENCE]),
    )


def drift_result(
    params: Params,
    report: DriftReport,
    decision: Decision,
    reference: Span,
    current: Span,
    champion_version: str | None,
    made: PolicyDecision | None = None,
) -> DriftResult:
    """drift.json: the report, the decision and the event to send, as one typed record."""
    from retrain.artifacts import (
        DriftSignals,
        DriftStatistics,
        DriftTrigger,
        FeatureDriftEntry,
        MonitorWindow,
        PerformanceCheck,
        PredictionDrift,
    )
    from retrain.monitor.drift import decay_trigger

    settings = params.monitor
    if made is None:  # the drift rule decided
        from retrain.policies import PolicyContext, decide

        made = decide(
            "drift",
            PolicyContext(params, params.base.task, "", None, 0, drift=lambda: (report, decision)),
        )
    return DriftResult(
        model=params.base.model_name,
        champion_version=champion_version,
        reference=MonitorWindow(window=reference.label, n_rows=report.n_reference),
        current=MonitorWindow(window=current.label, n_rows=report.n_current),
        statistics=DriftStatistics(
            numeric=settings.numeric_statistic,
            categorical=settings.categorical_statistic,
            prediction=settings.prediction_statistic,
            bins=settings.bins,
        ),
        features=[FeatureDriftEntry.model_validate(f.to_dict()) for f in report.features],
        n_features=len(report.features),
        n_drifted=len(report.drifted),
        drift_share=round(report.drift_share, 6),
        prediction=(
            PredictionDrift.model_validate(report.prediction.to_dict())
            if report.prediction
            else None
        ),
        performance=(
            PerformanceCheck.model_validate(report.performance.to_dict())
            if report.performance
            else None
        ),
        signals=DriftSignals(
            drift=decision.drift_signal,
            prediction_drift=decision.prediction_signal,
            decay=decision.decay_signal,
        ),
        trigger=DriftTrigger(
            drift_share=settings.trigger.drift_share,
            # the resolved trigger for the champion's metric (params value or metric default)
            decay=(
                decay_trigger(report.performance, settings.trigger)
                if report.performance
                else settings.trigger.decay
            ),
            persistence=settings.trigger.persistence,
            consecutive=decision.consecutive,
            windows=list(decision.windows),
        ),
        action="retrain" if made.fired else "none",
        reason=made.reason,
        dispatch=dispatch_event(params, report, made, current),
        policy=made,
    )


def earlier_signals(
    params: Params,
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    current: Span,
    report: DriftReport,
    champion: Champion,
    scores_reference: pd.DataFrame | None,
    policy: TriggerPolicy,
) -> list[WindowSignal]:
    """Signals of the windows before `current` that the persistence rule needs, oldest first.

    None when the current window has no signal or persistence is 1 (they cannot change the
    decision); else newest first until one has no signal or N-1 are checked. A window
    without rows (before the data starts) counts as no signal."""
    from retrain.monitor.drift import signals_of

    if policy.persistence <= 1 or not signals_of(report, policy).any:
        return []
    time_column = str(params.base.event_time)
    found: list[WindowSignal] = []
    for span in earlier_spans(current, policy.persistence - 1):
        rows = rows_in(frame, span, time_column)
        signal = False
        if len(rows):
            earlier = check_windows(
                params, reference, rows, champion.pipeline, champion.tags, scores_reference
            )
            signal = signals_of(earlier, policy).any
        log.info("persistence: window %s signal %s (%d rows)", span.label, signal, len(rows))
        found.append(WindowSignal(window=window_key(span), signal=signal))
        if not signal:
            break
    return found[::-1]


# -- the command ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Champion:
    """What the monitor knows of the registry's champion (all None: no champion)."""

    pipeline: Any = None
    tags: VersionTags | None = None
    version: str | None = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("build/monitor"), help="output directory")
    parser.add_argument(
        "--features",
        type=Path,
        help="features parquet holding both windows (default: extract's source, Feast or table)",
    )
    parser.add_argument("--data", type=Path, default=Path("data"), help="raw tables (Feast)")
    parser.add_argument("--feast-dir", type=Path, help="Feast work dir (default: extract params)")
    parser.add_argument("--reference-window", help="START..END; default: champion's train window")
    parser.add_argument("--current-window", help="START..END; default: monitor.current")
    parser.add_argument(
        "--current-rows",
        type=Path,
        help="file of new rows (tables without base.event_time); default: monitor.current_rows",
    )
    parser.add_argument(
        "--no-registry", action="store_true", help="no champion: feature drift only"
    )
    parser.add_argument(
        "--cost-dir",
        type=Path,
        default=Path("metrics/cost"),
        help="measured stage costs (cost_aware policy: the cost of a retrain)",
    )
    return parser


def measured_retrain_usd(cost_dir: Path) -> float | None:
    """The cost of one retrain: the sum of the stage cost records in `cost_dir` (None: none)."""
    if not cost_dir.is_dir():
        return None
    hint = f"re-run the pipeline (dvc repro) to rewrite the stage cost records in {cost_dir}"
    records = [StageCost.read(path, hint) for path in sorted(cost_dir.glob("*.json"))]
    return sum(r.usd for r in records) if records else None


def policy_context(
    params: Params,
    champion: Champion,
    current_rows: pd.DataFrame,
    reference_rows: pd.DataFrame | None,
    current: Span,
    drift: tuple[DriftReport, Decision],
    cost_dir: Path,
    calibration_rows: pd.DataFrame | None = None,
) -> PolicyContext:
    """What the monitor's policy may look at: the current window's rows (labels only for the
    `decay` policy's realised metric), the champion's labelled test window as the reference
    and the labelled rows from it to the current window as the calibration of the label-free
    estimate and the challenger's training rows, the periods since the champion was trained,
    the measured cost of a retrain."""
    from retrain.monitor.drift import champion_scores
    from retrain.policies import PolicyContext, Sample
    from retrain.splitting import derive_label

    base = params.base
    tags = champion.tags
    metric = (tags.primary_metric if tags else None) or getattr(params.train.metric, base.task)
    registered = tags.metrics.get(metric) if tags else None
    pipeline = champion.pipeline

    def scored(rows: pd.DataFrame | None) -> Sample | None:
        """The rows that carry a label, scored by the champion, with their columns."""
        if pipeline is None or rows is None or base.target not in rows.columns:
            return None
        frame, _ = derive_label(rows, base)
        if not len(frame):
            return None
        return Sample(champion_scores(pipeline, frame, base.task), frame["label"].to_numpy(), frame)

    current_sample = None
    if pipeline is not None:
        current_sample = Sample(
            champion_scores(pipeline, current_rows, base.task), features=current_rows
        )
    labelled = scored(current_rows)  # the challenger policy scores its own model on them too
    reference = scored(reference_rows)
    # only these policies read the rows since the test window: the others skip their scoring
    needed = params.policy.monitor in ("estimated", "cost_aware", "challenger")
    calibration = scored(calibration_rows) if needed else None
    since = 0
    if tags is not None and tags.train_end:
        import pandas as pd

        trained = pd.Timestamp(tags.train_end)
        trained = trained.tz_localize("UTC") if trained.tzinfo is None else trained
        length = current.end - current.start
        since = max(0, int((current.end - trained) / length)) if length else 0
    return PolicyContext(
        params=params,
        task=base.task,
        metric=metric,
        registered=registered,
        periods_since_retrain=since,
        labelled=labelled,
        current=current_sample,
        reference=reference,
        calibration=calibration,
        # the challenger trains on the labelled rows before the current window, as in the replay
        history=calibration,
        # Only the cost_aware policy reads the cost records.
        retrain_usd=(
            measured_retrain_usd(cost_dir) if params.policy.monitor == "cost_aware" else None
        ),
        drift=lambda: drift,
        seed=base.seed,
    )


def load_champion(model_name: str, required: bool) -> Champion:
    """The registry's champion of `model_name`; a UserError when `required` and there is none."""
    from retrain.registry import connect

    registry = connect()
    ref = registry.champion(model_name)
    if ref is None:
        if required:
            raise UserError(
                f"model {model_name!r} has no champion in the registry",
                "promote a model first, or pass --no-registry --reference-window START..END",
            )
        return Champion()
    return Champion(registry.load_pipeline(ref), VersionTags.from_tags(ref.tags), ref.version)


def reference_span(args: argparse.Namespace, timezone: str, champion: Champion) -> Span:
    """--reference-window, else the champion's training window."""
    if args.reference_window:
        return parse_window(args.reference_window, timezone, "--reference-window")
    if champion.version is not None and champion.tags is not None:
        return reference_from_tags(champion.tags, champion.version)
    raise UserError("no reference window", "pass --reference-window START..END")


def write_outputs(out: Path, result: DriftResult) -> None:
    """drift.png, summary.md, drift.json in `out`."""
    from retrain.fileio import write_text
    from retrain.monitor.render import drift_markdown, drift_plot

    out.mkdir(parents=True, exist_ok=True)
    drift_plot(result, out / "drift.png")
    write_text(out / "summary.md", drift_markdown(result))
    result.write(out / "drift.json")


def conclude(
    params: Params,
    args: argparse.Namespace,
    champion: Champion,
    report: DriftReport,
    decision: Decision,
    *,
    reference: Span,
    current: Span,
    cur_rows: pd.DataFrame,
    scores_ref: pd.DataFrame | None,
    calibration_rows: pd.DataFrame | None = None,
    context: str = "",
) -> int:
    """The policy's decision on the checked windows, written to --out; the exit code.
    `context` prefixes the log line."""
    from retrain.policies import decide as policy_decides

    made = policy_decides(
        params.policy.monitor,
        policy_context(
            params,
            champion,
            cur_rows,
            scores_ref,
            current,
            (report, decision),
            args.cost_dir,
            calibration_rows,
        ),
    )
    result = drift_result(params, report, decision, reference, current, champion.version, made)
    write_outputs(args.out, result)
    log.info(
        "%s%d/%d features drifted, policy %s: action %s (%s) -> %s",
        context,
        result.n_drifted,
        result.n_features,
        made.policy,
        result.action,
        made.reason,
        args.out / "drift.json",
    )
    return EXIT_RETRAIN if made.fired else 0


def untimed_cli(args: argparse.Namespace, params: Params) -> int:
    """No time column: the champion's training rows vs a file of new rows
    (`retrain.monitor.untimed`); persistence 1 (no earlier windows without time)."""
    import pandas as pd

    from retrain.extraction import table_features
    from retrain.fileio import confined, data_roots
    from retrain.monitor.drift import decide
    from retrain.monitor.untimed import (
        FLAG,
        current_rows_path,
        known_rows,
        read_current_rows,
        reference_rows,
    )

    path = current_rows_path(args.current_rows, params, args.params)
    for flag, value in (
        ("--features", args.features),
        ("--reference-window", args.reference_window),
        ("--current-window", args.current_window),
    ):
        if value:
            raise UserError(
                f"{flag} cuts time windows, but base.event_time is null",
                f"drop {flag}: the reference is extract.table.path (the champion's training "
                f"rows) and the current rows are {FLAG}",
            )
    base, table = params.base, params.extract.table
    if params.extract.source != "table" or table.path is None:  # feast always has a time
        raise UserError(
            f"base.event_time is null but extract.source is {params.extract.source!r}",
            "set extract.source: table and extract.table.path (the bundled Feast source has "
            "a time column: base.event_time: event_time)",
        )
    frame = table_features(
        confined(table.path, data_roots(args.params.resolve().parent), "extract.table.path"),
        table.encoding,
        base.key,
        base.target,
        None,
        params.extract.window,
        params.extract.limits,
    )
    new = read_current_rows(path, params, frame)
    known = known_rows(new, frame, base)
    cur_rows = new.loc[~known].reset_index(drop=True)
    n_known = int(known.sum())
    if cur_rows.empty:
        raise UserError(
            f"every row of {path.name} ({len(new):,}) is already in {table.path}",
            f"pass rows the table does not hold as {FLAG}",
        )
    champion = Champion() if args.no_registry else load_champion(base.model_name, required=False)
    if champion.version is None and not args.no_registry:
        raise UserError(
            f"model {base.model_name!r} has no champion in the registry",
            "promote a model first, or pass --no-registry (feature drift against the whole table)",
        )
    ref = reference_rows(frame, base, champion.tags, champion.version, Path(table.path).name)
    # persistence does not apply without time: one "window", the new rows
    trigger = params.monitor.trigger.model_copy(update={"persistence": 1})
    params = params.model_copy(
        update={"monitor": params.monitor.model_copy(update={"trigger": trigger})}
    )
    today = pd.Timestamp.now(tz="UTC").normalize()
    skipped = f", {n_known:,} already in the table left out" if n_known else ""
    current = Span(
        today, today + pd.Timedelta(days=1), f"{path.name}: {len(cur_rows):,} new rows{skipped}"
    )
    reference = Span(today, today, ref.label)
    if n_known:
        log.info("%d of %d rows of %s are already in the table: left out", n_known, len(new), path)
    report = check_windows(
        params, ref.rows, cur_rows, champion.pipeline, champion.tags, ref.scores_rows
    )
    decision = decide(report, trigger, window_key(current))
    return conclude(
        params,
        args,
        champion,
        report,
        decision,
        reference=reference,
        current=current,
        cur_rows=cur_rows,
        scores_ref=ref.scores_rows,
        context=f"no time column: {ref.label} vs {current.label}; ",
    )


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params
    from retrain.config.extract import Window
    from retrain.monitor.drift import decide

    args = _parser().parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    settings, base = params.monitor, params.base
    if base.event_time is None or args.current_rows or settings.current_rows is not None:
        return untimed_cli(args, params)
    timezone = settings.current.timezone
    current = (
        parse_window(args.current_window, timezone, "--current-window")
        if args.current_window
        else span_of_window(settings.current)
    )
    champion = (
        Champion()
        if args.no_registry
        else load_champion(base.model_name, required=not args.reference_window)
    )
    reference = reference_span(args, timezone, champion)
    # the windows the persistence rule may need to check (read now, in the same pass)
    earlier = earlier_spans(current, settings.trigger.persistence - 1)
    spans = [reference, current, *earlier]

    # input paths, like extract.table.path: symlinks and .. may not lead outside the project
    from retrain.featurestore.sources import FLIGHTS_FILE, PLANES_FILE, WEATHER_FILE
    from retrain.fileio import confined, confined_dir, data_roots, input_roots

    roots = input_roots(args.params)
    table_path = None
    if args.features:
        args.features = confined(args.features, roots, "--features")
    elif params.extract.source == "table":
        assert params.extract.table.path is not None  # enforced by ExtractSection
        # the same rule as the extract stage: the project is the directory of params.yaml
        project = data_roots(args.params.resolve().parent)
        table_path = confined(params.extract.table.path, project, "extract.table.path")
    else:
        args.data = confined_dir(
            args.data, (FLIGHTS_FILE, PLANES_FILE, WEATHER_FILE), roots, "--data"
        )
    if args.features and args.features.suffix.lower() != ".parquet":
        # a CSV: the user's own table, read like extract reads it
        from retrain.extraction import table_features

        start = min(s.start for s in spans).to_pydatetime()
        end = max(s.end for s in spans).to_pydatetime()
        frame = table_features(
            args.features,
            params.extract.table.encoding,
            base.key,
            base.target,
            base.event_time,
            Window(start=start, end=end, timezone="UTC"),
        )
    elif args.features:
        frame = read_features(args.features, base.event_time)
    else:
        frame = extract_features(params, args.data, args.feast_dir, spans, table_path)
    ref_rows = rows_in(frame, reference, base.event_time)
    cur_rows = rows_in(frame, current, base.event_time)
    scores_ref = prediction_reference(frame, champion.tags, champion.version, base.event_time)
    report = check_windows(params, ref_rows, cur_rows, champion.pipeline, champion.tags, scores_ref)

    before = earlier_signals(
        params, frame, ref_rows, current, report, champion, scores_ref, settings.trigger
    )
    decision = decide(report, settings.trigger, window_key(current), before)
    return conclude(
        params,
        args,
        champion,
        report,
        decision,
        reference=reference,
        current=current,
        cur_rows=cur_rows,
        scores_ref=scores_ref,
        calibration_rows=labelled_since_test(
            frame, champion.tags, champion.version, current, base.event_time
        ),
    )
