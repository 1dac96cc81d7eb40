"""The `repository_dispatch` contract: ONE schema object for sending and for checking.

`retrain dispatch` builds its request body with `DispatchEvent`; the retrain workflow runs
`retrain check-payload --event-path $GITHUB_EVENT_PATH` so an incoming event is validated by the
same object before any work. The payload is untrusted data: every string has a length cap and a
small ASCII alphabet with no shell metacharacters, no `..`, no control characters and no leading
`-` (option injection); unknown keys and wrong types are rejected (strict mode, no coercion).

GitHub's own limits: at most 10 top-level keys in `client_payload`, at most 65,535 characters.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from retrain.errors import UserError

log = logging.getLogger("retrain.check_payload")

SCHEMA_VERSION = 1
EVENT_TYPES = ("drift-detected", "performance-degraded", "data-updated")
MAX_TOP_LEVEL_KEYS = 10  # GitHub: client_payload may have at most 10 top-level properties
MAX_PAYLOAD_CHARS = 65_535  # GitHub: client_payload JSON at most 65,535 characters
MAX_FEATURES = 20
MAX_EVENT_FILE_BYTES = 5_000_000  # a GitHub event file is a few tens of kB


def _safe_text(label: str, pattern: str, max_len: int, describe: str) -> Any:
    """A strict str type: length cap first (cheap), then a full-string ASCII pattern."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_len:
            raise ValueError(f"{label} is longer than {max_len} characters ({len(value)})")
        if not compiled.fullmatch(value):
            raise ValueError(f"{label} must be {describe}")
        if ".." in value:
            raise ValueError(f"{label} must not contain '..'")
        return value

    return Annotated[str, AfterValidator(check)]


ModelName = _safe_text(
    "model name",
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
    63,
    "1-63 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
)
FeatureName = _safe_text(
    "feature name",
    r"[A-Za-z_][A-Za-z0-9_.]{0,63}",
    64,
    "1-64 characters: letters, digits, '_', '.', starting with a letter or '_'",
)
Reason = _safe_text(
    "reason",
    r"[A-Za-z0-9_][A-Za-z0-9 _.,:=%+-]{0,199}",
    200,
    "1-200 characters: letters, digits, spaces and _ . , : = % + - (no shell metacharacters)",
)
Detector = _safe_text(
    "detector",
    r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}",
    64,
    "1-64 characters: letters, digits, '_', '.', ':', '-', starting with a letter or digit",
)
PolicyText = _safe_text(
    "policy", r"[a-z][a-z_]{0,31}", 32, "1-32 characters: lower-case letters and '_'"
)
MAX_EVIDENCE = 8
DateText = _safe_text("date", r"[0-9]{4}-[0-9]{2}-[0-9]{2}", 10, "an ISO date YYYY-MM-DD")


def _known_schema(version: int) -> int:
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"unsupported schema version {version}; this retrain reads {SCHEMA_VERSION}"
        )
    return version


# Strict int (Literal[1] would accept True and 1.0, which compare equal to 1).
SchemaVersion = Annotated[int, AfterValidator(_known_schema)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", populate_by_name=True)


class PayloadWindow(_Strict):
    start: DateText
    end: DateText

    @model_validator(mode="after")
    def _real_ordered_dates(self) -> PayloadWindow:
        try:
            start, end = dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)
        except ValueError as exc:
            raise ValueError(f"window has an impossible date: {exc}") from None
        if end <= start:  # half-open [start, end), like every window in params.yaml
            raise ValueError(f"window end {self.end} must be after start {self.start}")
        return self


class ClientPayload(_Strict):
    schema_version: SchemaVersion = Field(alias="schema")
    model: ModelName
    reason: Reason
    window: PayloadWindow
    score: float = Field(allow_inf_nan=False, ge=-1e9, le=1e9)
    features: list[FeatureName] = Field(max_length=MAX_FEATURES)
    detector: Detector
    # the retrain policy that fired (retrain.policies) and whether its evidence is an estimate
    # made without labels; absent in payloads from before the policies: the drift rule
    policy: PolicyText = "drift"
    estimated: bool = False
    # the policy's numeric evidence (e.g. estimate, low, high, decay, trigger), finite numbers
    evidence: dict[FeatureName, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=MAX_EVIDENCE
    )

    @model_validator(mode="after")
    def _unique_features(self) -> ClientPayload:
        if len(set(self.features)) != len(self.features):
            raise ValueError("features must not repeat a name")
        return self


class DispatchEvent(_Strict):
    """The body of POST /repos/{owner}/{repo}/dispatches."""

    event_type: Literal["drift-detected", "performance-degraded", "data-updated"]
    client_payload: ClientPayload

    def body(self) -> dict[str, Any]:
        # keys the sender did not set (policy, estimated, evidence) stay absent, as they came
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def summary(self) -> str:
        p = self.client_payload
        shown = ", ".join(p.features[:5]) + (", ..." if len(p.features) > 5 else "")
        return (
            f"{self.event_type}: model {p.model}, window {p.window.start}..{p.window.end}, "
            f"score {p.score:.4g}, detector {p.detector}, features [{shown}]; {p.reason}"
            + (f"; policy {p.policy}" if p.policy != "drift" else "")
            + (" (estimated without labels)" if p.estimated else "")
        )


def _short(value: Any) -> str:
    # repr() escapes newlines/control characters, so a hostile value cannot start a new log
    # line (e.g. a GitHub Actions `::command::`); truncation keeps huge strings out of logs.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(payload)"
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message} (got {_short(err.get('input'))})")
    return "\n  - ".join(lines)


def parse_event(event_type: Any, client_payload: Any, source: str = "payload") -> DispatchEvent:
    """Validate an event type and client payload from anywhere (dict from JSON). UserError if bad."""
    hint = "send a payload that follows retrain.monitor.payload (docs/contracts.md, 'Loop')"
    if not isinstance(client_payload, dict):
        raise UserError(
            f"{source}: client_payload must be a JSON object, got {type(client_payload).__name__}",
            hint,
        )
    if len(client_payload) > MAX_TOP_LEVEL_KEYS:
        raise UserError(
            f"{source}: client_payload has {len(client_payload)} top-level keys; GitHub allows "
            f"at most {MAX_TOP_LEVEL_KEYS}",
            hint,
        )
    try:
        size = len(json.dumps(client_payload, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: client_payload is not plain JSON ({exc})", hint) from None
    if size > MAX_PAYLOAD_CHARS:
        raise UserError(
            f"{source}: client_payload is {size} characters; GitHub allows at most "
            f"{MAX_PAYLOAD_CHARS}",
            hint,
        )
    try:
        return DispatchEvent.model_validate(
            {"event_type": event_type, "client_payload": client_payload}
        )
    except ValidationError as exc:
        raise UserError(f"{source} rejected:\n  - {_problems(exc)}", hint) from None


def build_event(
    event_type: str,
    *,
    model: str,
    reason: str,
    window_start: str | dt.date,
    window_end: str | dt.date,
    score: float,
    features: list[str],
    detector: str,
    policy: str = "drift",
    estimated: bool = False,
    evidence: dict[str, float] | None = None,
) -> DispatchEvent:
    """Build (and so validate) the event `retrain dispatch` sends."""
    payload: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "model": model,
        "reason": reason,
        "window": {"start": str(window_start), "end": str(window_end)},
        "score": float(score) if math.isfinite(float(score)) else score,
        "features": list(features),
        "detector": detector,
    }
    if policy != "drift" or estimated or evidence:  # the drift rule's payload is as it was
        payload.update(policy=policy, estimated=estimated, evidence=dict(evidence or {}))
    return parse_event(event_type, payload, source="dispatch payload")


# --- the retrain side: the GitHub event file ---------------------------------------------------

TRIGGERING_EVENTS = ("repository_dispatch", "workflow_dispatch", "schedule")


def read_event_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(
            f"event file not found: {path}",
            "pass --event-path $GITHUB_EVENT_PATH (set by GitHub Actions)",
        )
    size = path.stat().st_size
    if size > MAX_EVENT_FILE_BYTES:
        raise UserError(
            f"event file {path} is {size} bytes (limit {MAX_EVENT_FILE_BYTES})",
            "pass the event file GitHub Actions wrote",
        )
    try:
        event = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UserError(f"event file {path} is not valid JSON: {exc}", "pass a JSON file") from None
    if not isinstance(event, dict):
        raise UserError(f"event file {path} must hold a JSON object", "pass a GitHub event file")
    return event


def _infer_event_name(event: dict[str, Any]) -> str:
    if "client_payload" in event or ("action" in event and "branch" in event):
        return "repository_dispatch"
    if "schedule" in event:
        return "schedule"
    if "inputs" in event or "workflow" in event:
        return "workflow_dispatch"
    return "unknown"


def check_github_event(event: dict[str, Any], event_name: str | None = None) -> dict[str, Any]:
    """Trigger summary for the run's report; UserError for anything that must not run."""
    name = event_name or _infer_event_name(event)
    if name not in TRIGGERING_EVENTS:
        raise UserError(
            f"event {_short(name)} does not trigger a retrain; expected one of "
            f"{', '.join(TRIGGERING_EVENTS)}",
            "run check-payload only in the retrain workflow",
        )
    if name != "repository_dispatch":
        label = "scheduled run" if name == "schedule" else "manual run"
        return {
            "schema": SCHEMA_VERSION,
            "event_name": name,
            "event_type": None,
            "client_payload": None,
            "summary": f"{label} ({name}), no payload",
        }
    checked = parse_event(event.get("action"), event.get("client_payload"), "repository_dispatch")
    return {
        "schema": SCHEMA_VERSION,
        "event_name": name,
        "event_type": checked.event_type,
        "client_payload": checked.body()["client_payload"],
        "summary": checked.summary(),
    }


def cli(argv: list[str]) -> int:
    from retrain import fileio, logs

    parser = argparse.ArgumentParser(
        prog="retrain check-payload",
        description="Validate the GitHub event that started the retrain workflow "
        "(repository_dispatch payload, or a scheduled/manual run) before any work.",
    )
    parser.add_argument(
        "--event-path",
        type=Path,
        default=os.environ.get("GITHUB_EVENT_PATH"),
        help="GitHub event JSON (default: $GITHUB_EVENT_PATH)",
    )
    parser.add_argument(
        "--event-name",
        default=os.environ.get("GITHUB_EVENT_NAME"),
        help="repository_dispatch | workflow_dispatch | schedule (default: $GITHUB_EVENT_NAME, "
        "else inferred from the file)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/trigger.json"), help="validated trigger summary"
    )
    args = parser.parse_args(argv)
    logs.setup()
    if args.event_path is None:
        raise UserError("no event file given", "pass --event-path or set GITHUB_EVENT_PATH")
    try:
        trigger = check_github_event(read_event_file(args.event_path), args.event_name)
    except UserError:
        # A stale summary from an earlier run must not describe this rejected one.
        args.out.unlink(missing_ok=True)
        raise
    # Keys sorted, as this file has always been written.
    fileio.write_text(args.out, json.dumps(trigger, indent=2, sort_keys=True) + "\n")
    print(f"trigger ok: {trigger['summary']}")
    return 0
