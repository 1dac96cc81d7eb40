"""`retrain monitor`: drift and performance check of the champion; exit 10 = retrain.

Reference = the champion's training window (registry tags `train_start`/`train_end`), or
`--reference-window` without a registry. Current = `monitor.current` (or `--current-window`).
Both windows are read through the feature store (extract's Feast core) or from a features
parquet (`--features`). Writes drift.json, summary.md and drift.png to --out, and keeps the
persistence counter in monitor.state_file. drift.json carries the repository_dispatch event to
send when the action is "retrain" (`retrain dispatch --payload drift.json`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params
    from retrain.monitor.drift import Decision, DriftReport

log = logging.getLogger("retrain.monitor")

SCHEMA = 1
EXIT_RETRAIN = 10
DETECTOR = "retrain-monitor"
_PAYLOAD_FEATURE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")


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


def span_from_tags(tags: dict[str, str], version: str, kind: str = "train") -> Span:
    """A window recorded on a registered version: [<kind>_start, <kind>_end] inclusive."""
    import pandas as pd

    keys = (f"{kind}_start", f"{kind}_end")
    missing = [k for k in keys if not tags.get(k) or tags[k] == "None"]
    if missing:
        raise UserError(
            f"champion version {version} has no {'/'.join(missing)} tag(s)",
            "pass --reference-window START..END, or register models through `retrain push`",
        )
    try:
        start, end = pd.Timestamp(tags[keys[0]]), pd.Timestamp(tags[keys[1]])
    except ValueError as exc:
        raise UserError(
            f"champion version {version}: bad {keys[0]}/{keys[1]} tag ({exc})",
            "re-register the model through `retrain push`",
        ) from None
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    return Span(start, end + pd.Timedelta(1, "ns"), f"{start:%Y-%m-%d}..{end:%Y-%m-%d} (UTC)")


def reference_from_tags(tags: dict[str, str], version: str) -> Span:
    """The champion's training window, from its `train_start`/`train_end` tags."""
    return span_from_tags(tags, version, "train")


def prediction_reference(
    frame: pd.DataFrame, tags: dict[str, str], version: str | None, time_column: str
) -> pd.DataFrame | None:
    """Rows of the champion's test window: its scores there are out-of-sample, like the
    current window's (scores on its own training rows are over-confident). None: no tags."""
    if version is None:
        return None
    try:
        span = span_from_tags(tags, version, "test")
    except UserError:
        return None
    rows = rows_in(frame, span, time_column)
    return rows if len(rows) else None


def rows_in(frame: pd.DataFrame, span: Span, time_column: str) -> pd.DataFrame:
    times = frame[time_column]
    return frame.loc[(times >= span.start) & (times < span.end)].reset_index(drop=True)


def read_features(path: Path, time_column: str) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise UserError(
            f"features file not found: {path}", "run `retrain extract` or fix --features"
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise UserError(f"{path} is not a readable parquet file: {exc}", "re-run extract") from None
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
    params: Params, data_dir: Path, feast_dir: Path | None, spans: list[Span]
) -> pd.DataFrame:
    """Both windows in one pass through the feature store (extract's core function)."""
    import pandas as pd

    from retrain.config.extract import Window
    from retrain.stages.extract import feast_features

    if params.extract.source != "feast":
        raise UserError(
            "extract.source is 'table': pass the table as --features",
            "retrain monitor --features PATH",
        )
    start = min(s.start for s in spans).to_pydatetime()
    end = max(s.end for s in spans).to_pydatetime()
    window = Window(start=start, end=end, timezone="UTC")
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
    tags: dict[str, str] | None = None,
    scores_reference: pd.DataFrame | None = None,
) -> DriftReport:
    """The core: feature drift, the champion's prediction drift and performance decay.

    Prediction drift compares the champion's scores on `scores_reference` (default: the
    reference window) with its scores on the current window."""
    from retrain.monitor.drift import (
        DriftReport,
        champion_scores,
        feature_drift,
        performance,
        prediction_drift,
    )
    from retrain.stages.prepare import derive_label

    settings, base = params.monitor, params.base
    features = feature_drift(reference, current, settings)
    prediction = perf = None
    if pipeline is not None:
        base_rows = reference if scores_reference is None else scores_reference
        ref_scores = champion_scores(pipeline, base_rows, base.task)
        cur_scores = champion_scores(pipeline, current, base.task)
        prediction = prediction_drift(ref_scores, cur_scores, settings)
        tags = tags or {}
        metric = tags.get("primary_metric")
        registered = tags.get(f"metric.{metric}") if metric else None
        if metric and registered not in (None, "", "None") and base.target in current.columns:
            labelled, _ = derive_label(current, base)
            if not labelled.empty:
                scores = champion_scores(pipeline, labelled, base.task)
                perf = performance(metric, float(registered), labelled["label"].to_numpy(), scores)
    return DriftReport(features, prediction, perf, len(reference), len(current))


def dispatch_event(
    params: Params, report: DriftReport, decision: Decision, current: Span
) -> dict[str, Any] | None:
    """The repository_dispatch body for a retrain decision, validated by the payload schema."""
    from retrain.monitor.payload import build_event

    if decision.action != "retrain" or decision.event_type is None:
        return None
    start, end = current.dates()
    names = [f.feature for f in report.drifted if _PAYLOAD_FEATURE.fullmatch(f.feature)]
    statistic = params.monitor.numeric_statistic
    event = build_event(
        decision.event_type,
        model=params.base.model_name,
        reason=decision.reason[:200].rstrip(" ,"),
        window_start=start,
        window_end=end,
        score=round(decision.score, 6),
        features=names[:20],
        detector=f"{DETECTOR}:{statistic}",
    )
    return event.body()


def result_json(
    params: Params,
    report: DriftReport,
    decision: Decision,
    reference: Span,
    current: Span,
    champion_version: str | None,
) -> dict[str, Any]:
    settings = params.monitor
    return {
        "schema": SCHEMA,
        "model": params.base.model_name,
        "champion_version": champion_version,
        "reference": {"window": reference.label, "n_rows": report.n_reference},
        "current": {"window": current.label, "n_rows": report.n_current},
        "statistics": {
            "numeric": settings.numeric_statistic,
            "categorical": settings.categorical_statistic,
            "prediction": settings.prediction_statistic,
            "bins": settings.bins,
        },
        "features": [f.to_dict() for f in report.features],
        "n_features": len(report.features),
        "n_drifted": len(report.drifted),
        "drift_share": round(report.drift_share, 6),
        "prediction": report.prediction.to_dict() if report.prediction else None,
        "performance": report.performance.to_dict() if report.performance else None,
        "signals": {
            "drift": decision.drift_signal,
            "prediction_drift": decision.prediction_signal,
            "decay": decision.decay_signal,
        },
        "trigger": {
            "drift_share": settings.trigger.drift_share,
            "decay": settings.trigger.decay,
            "persistence": settings.trigger.persistence,
            "consecutive": decision.consecutive,
        },
        "action": decision.action,
        "reason": decision.reason,
        "dispatch": dispatch_event(params, report, decision, current),
    }


def summary_markdown(result: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        return (
            "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        )

    verdict = "**retrain**" if result["action"] == "retrain" else "no action"
    lines = [
        f"## Monitor: {result['model']} (champion v{result['champion_version'] or '-'})",
        "",
        f"Decision: {verdict} ({result['reason']}).",
        "",
        f"Reference {result['reference']['window']} ({result['reference']['n_rows']:,} rows) vs "
        f"current {result['current']['window']} ({result['current']['n_rows']:,} rows): "
        f"{result['n_drifted']} of {result['n_features']} features drifted "
        f"(share {result['drift_share']:.2f}, trigger at {result['trigger']['drift_share']:.2f}).",
        "",
    ]
    if result["prediction"]:
        p = result["prediction"]
        lines.append(
            f"Prediction drift ({p['statistic']}): {fmt(p['score'])} vs threshold "
            f"{fmt(p['threshold'])}{' — drifted' if p['drifted'] else ''}."
        )
    if result["performance"]:
        p = result["performance"]
        lines.append(
            f"Performance: {p['metric']} {p['current']:.4f} on {p['n_labelled']:,} labelled rows "
            f"vs {p['registered']:.4f} registered (decay {p['decay']:+.4f}, trigger at "
            f"{result['trigger']['decay']})."
        )
    lines += [
        "",
        "| feature | kind | statistic | score | threshold | drifted | missing ref → cur |",
        "|---|---|---|---:|---:|:-:|---:|",
    ]
    ordered = sorted(result["features"], key=lambda f: -(f["score"] or 0.0) / f["threshold"])
    for f in ordered:
        lines.append(
            f"| {f['feature']} | {f['kind']} | {f['statistic']} | {fmt(f['score'])} | "
            f"{fmt(f['threshold'])} | {'yes' if f['drifted'] else ''} | "
            f"{f['missing_reference']:.1%} → {f['missing_current']:.1%} |"
        )
    return "\n".join(lines) + "\n"


def plot_scores(result: dict[str, Any], path: Path) -> None:
    """Bar per feature: score / threshold (1.0 = the drift line), drifted ones in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(result["features"], key=lambda f: (f["score"] or 0.0) / f["threshold"])
    ratios = [(f["score"] or 0.0) / f["threshold"] for f in rows]
    colours = ["#c0392b" if f["drifted"] else "#7f8c8d" for f in rows]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(rows) + 1.4))
    ax.barh([f"{f['feature']} ({f['statistic']})" for f in rows], ratios, color=colours)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    # Log scale: a PSI of 8 (temperature across seasons) must not flatten the rest.
    ax.set_xscale("log")
    ax.set_xlim(left=max(min([r for r in ratios if r > 0] or [0.01]) / 2, 1e-3))
    ax.set_xlabel("score / threshold (log scale; drift at >= 1)")
    ax.set_title(
        f"{result['model']}: {result['n_drifted']}/{result['n_features']} features drifted, "
        f"action: {result['action']}",
        fontsize=10,
    )
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs are ordinary files
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UserError(
            f"monitor state {path} is not valid JSON: {exc}",
            "delete it to restart the persistence count",
        ) from None
    if not isinstance(state, dict) or state.get("schema") != 1:
        raise UserError(
            f"monitor state {path} is not a schema-1 state file",
            "delete it to restart the persistence count",
        )
    return state


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("build/monitor"), help="output directory")
    parser.add_argument("--features", type=Path, help="features parquet holding both windows")
    parser.add_argument("--data", type=Path, default=Path("data"), help="raw tables (Feast)")
    parser.add_argument("--feast-dir", type=Path, help="Feast work dir (default: extract params)")
    parser.add_argument("--reference-window", help="START..END; default: champion's train window")
    parser.add_argument("--current-window", help="START..END; default: monitor.current")
    parser.add_argument(
        "--state", type=Path, help="persistence state (default: monitor.state_file)"
    )
    parser.add_argument(
        "--no-registry", action="store_true", help="no champion: feature drift only"
    )
    return parser


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params
    from retrain.monitor.drift import decide

    args = _parser().parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    settings, base = params.monitor, params.base
    if base.event_time is None:
        raise UserError(
            "base.event_time is null: the monitor needs event times to cut windows",
            "set base.event_time to the table's timestamp column",
        )
    timezone = settings.current.timezone
    current = (
        parse_window(args.current_window, timezone, "--current-window")
        if args.current_window
        else span_of_window(settings.current)
    )
    pipeline, tags, version = None, {}, None
    if not args.no_registry:
        from retrain.registry import Registry

        registry = Registry()
        champion = registry.champion(base.model_name)
        if champion is None and not args.reference_window:
            raise UserError(
                f"model {base.model_name!r} has no champion in the registry",
                "promote a model first, or pass --no-registry --reference-window START..END",
            )
        if champion is not None:
            pipeline, tags, version = (
                registry.load_pipeline(champion),
                champion.tags,
                champion.version,
            )
    if args.reference_window:
        reference = parse_window(args.reference_window, timezone, "--reference-window")
    elif version is not None:
        reference = reference_from_tags(tags, version)
    else:
        raise UserError("no reference window", "pass --reference-window START..END")

    state_path = args.state or Path(settings.state_file)
    state = read_state(state_path)  # a broken state file fails before any work

    if args.features:
        frame = read_features(args.features, base.event_time)
    else:
        frame = extract_features(params, args.data, args.feast_dir, [reference, current])
    ref_rows = rows_in(frame, reference, base.event_time)
    cur_rows = rows_in(frame, current, base.event_time)
    scores_ref = prediction_reference(frame, tags, version, base.event_time)
    report = check_windows(params, ref_rows, cur_rows, pipeline, tags, scores_ref)

    start, end = current.dates()
    decision = decide(
        report,
        settings.trigger,
        state,
        model=base.model_name,
        champion_version=version,
        window={"start": start, "end": end},
    )
    result = result_json(params, report, decision, reference, current, version)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_scores(result, args.out / "drift.png")
    write_text(args.out / "summary.md", summary_markdown(result))
    write_text(args.out / "drift.json", json.dumps(result, indent=2) + "\n")
    write_text(state_path, json.dumps(decision.state, indent=2) + "\n")
    log.info(
        "%d/%d features drifted, action %s (%s) -> %s",
        result["n_drifted"],
        result["n_features"],
        decision.action,
        decision.reason,
        args.out / "drift.json",
    )
    return EXIT_RETRAIN if decision.action == "retrain" else 0
