"""The repository_dispatch payload schema: valid payloads pass, hostile ones never do."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrain.cli import main
from retrain.errors import UserError
from retrain.monitor import payload as pl

VALID: dict[str, Any] = {
    "schema": 1,
    "model": "flight-delay",
    "reason": "7 of 20 features drifted, share 0.35 at least 0.30 for 2 windows",
    "window": {"start": "2013-10-01", "end": "2014-01-01"},
    "score": 0.35,
    "features": ["temp", "dep_hour", "carrier"],
    "detector": "retrain-monitor:psi",
}
STRING_FIELDS = ["model", "reason", "detector"]
# Characters a shell, a path or a log parser gives meaning to.
HOSTILE = [*"`$;|&<>\\'\"(){}[]*?!~#\n\r\t\x00/", "..", "\u202e", "é", "\x1b"]


def really_valid(event: pl.DispatchEvent) -> None:
    """An independent check of everything the schema promises about an accepted payload."""
    assert event.event_type in pl.EVENT_TYPES
    body = event.body()
    assert set(body) == {"event_type", "client_payload"}
    cp = body["client_payload"]
    assert set(cp) == set(VALID)
    assert type(cp["schema"]) is int and cp["schema"] == 1
    assert isinstance(cp["score"], float) and math.isfinite(cp["score"])
    assert isinstance(cp["features"], list) and len(cp["features"]) <= 20
    assert len(set(cp["features"])) == len(cp["features"])
    strings = [cp["model"], cp["reason"], cp["detector"], *cp["features"], *cp["window"].values()]
    for text in strings:
        assert isinstance(text, str) and 0 < len(text) <= 200
        assert text.isascii() and text.isprintable()
        assert not any(bad in text for bad in HOSTILE), text
        assert not text.startswith("-")
    assert cp["window"]["start"] < cp["window"]["end"]
    assert len(json.dumps(cp)) <= pl.MAX_PAYLOAD_CHARS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_valid_payload_is_accepted_and_round_trips() -> None:
    event = pl.parse_event("drift-detected", VALID)
    really_valid(event)
    again = pl.parse_event(event.event_type, event.body()["client_payload"])
    assert again == event
    assert "drift-detected: model flight-delay" in event.summary()


def test_build_event_validates_what_it_builds() -> None:
    event = pl.build_event(
        "performance-degraded",
        model="flight-delay",
        reason="roc_auc fell by 0.041",
        window_start="2013-11-01",
        window_end="2013-12-01",
        score=0.041,
        features=[],
        detector="retrain-monitor",
    )
    really_valid(event)
    with pytest.raises(UserError, match="reason"):
        pl.build_event(
            "drift-detected",
            model="m",
            reason="$(curl evil)",
            window_start="2013-11-01",
            window_end="2013-11-30",
            score=1.0,
            features=[],
            detector="d",
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "unsupported schema version 2"),
        ({"schema": True}, "valid integer"),
        ({"schema": "1"}, "valid integer"),
        ({"score": "0.3"}, "valid number"),
        ({"score": True}, "valid number"),
        ({"features": "temp"}, "valid list"),
        ({"features": [f"f{i}" for i in range(21)]}, "at most 20"),
        ({"features": ["temp", "temp"]}, "must not repeat"),
        ({"features": ["../etc/passwd"]}, "feature name must be"),
        ({"model": "flight-delay; rm -rf ~"}, "model name must be"),
        ({"model": "-rf"}, "model name must be"),
        ({"model": "a..b"}, "must not contain '..'"),
        ({"model": "x" * 64}, "longer than 63"),
        ({"reason": "ok\n::set-env name=X::1"}, "reason must be"),
        ({"reason": "r" * 5000}, "longer than 200"),
        ({"detector": "`id`"}, "detector must be"),
        ({"window": {"start": "2013-12-31", "end": "2013-10-01"}}, "must be after start"),
        ({"window": {"start": "2013-10-01", "end": "2013-10-01"}}, "must be after start"),
        ({"window": {"start": "2013-02-30", "end": "2013-03-01"}}, "impossible date"),
        ({"window": {"start": "2013-10-01"}}, "window.end"),
        ({"window": {"start": "2013-10-01", "end": "2013-12-31", "x": 1}}, "Extra inputs"),
        ({"extra": "x"}, "Extra inputs"),
    ],
)
def test_bad_payloads_are_rejected_with_the_field_named(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError) as err:
        pl.parse_event("drift-detected", {**VALID, **change})
    assert message in str(err.value)
    assert "fix:" in str(err.value)


def test_missing_key_is_named() -> None:
    broken = {k: v for k, v in VALID.items() if k != "model"}
    with pytest.raises(UserError, match=r"client_payload\.model: Field required"):
        pl.parse_event("drift-detected", broken)


@pytest.mark.parametrize("event_type", ["retrain-now", "", None, 1, "drift-detected "])
def test_unknown_event_type_is_rejected(event_type: Any) -> None:
    with pytest.raises(UserError, match="event_type"):
        pl.parse_event(event_type, VALID)


def test_github_limits_are_checked_first() -> None:
    many = {f"k{i}": i for i in range(11)}
    with pytest.raises(UserError, match="11 top-level keys; GitHub allows at most 10"):
        pl.parse_event("drift-detected", many)
    huge = {**VALID, "reason": "x" * 70_000}
    with pytest.raises(UserError, match="GitHub allows at most 65535"):
        pl.parse_event("drift-detected", huge)
    with pytest.raises(UserError, match="must be a JSON object"):
        pl.parse_event("drift-detected", ["schema", 1])


def test_error_message_does_not_echo_a_huge_or_multiline_value() -> None:
    with pytest.raises(UserError) as err:
        pl.parse_event("drift-detected", {**VALID, "detector": "a\n::add-mask::" + "z" * 500})
    text = str(err.value)
    assert "\n::" not in text  # repr-escaped: cannot start a workflow-command line
    assert "z" * 100 not in text


@FUZZ
@given(event_type=st.sampled_from(pl.EVENT_TYPES) | json_values, client_payload=json_values)
def test_fuzz_arbitrary_json_never_crashes_or_passes_invalid(
    event_type: Any, client_payload: Any
) -> None:
    try:
        event = pl.parse_event(event_type, client_payload)
    except UserError:
        return
    really_valid(event)


@FUZZ
@given(
    field=st.sampled_from([*VALID, "window.start", "window.end", "features.0"]),
    value=json_values,
)
def test_fuzz_one_field_replaced_by_anything(field: str, value: Any) -> None:
    candidate = json.loads(json.dumps(VALID))
    if field.startswith("window."):
        candidate["window"][field.split(".")[1]] = value
    elif field == "features.0":
        candidate["features"][0] = value
    else:
        candidate[field] = value
    try:
        event = pl.parse_event("drift-detected", candidate)
    except UserError:
        return
    really_valid(event)


@FUZZ
@given(
    field=st.sampled_from([*STRING_FIELDS, "feature"]),
    prefix=st.text(max_size=10),
    hostile=st.sampled_from(HOSTILE),
    suffix=st.text(max_size=10),
)
def test_fuzz_hostile_characters_are_always_rejected(
    field: str, prefix: str, hostile: str, suffix: str
) -> None:
    text = prefix + hostile + suffix
    candidate = {**VALID, "features": [text]} if field == "feature" else {**VALID, field: text}
    with pytest.raises(UserError):
        pl.parse_event("drift-detected", candidate)


names = st.from_regex(re.compile(r"[a-z][a-z0-9_]{0,20}"), fullmatch=True)


@FUZZ
@given(
    event_type=st.sampled_from(pl.EVENT_TYPES),
    model=st.from_regex(re.compile(r"[a-z0-9][a-z0-9_-]{0,30}"), fullmatch=True),
    reason=st.from_regex(re.compile(r"[a-z0-9][a-z0-9 ,.:=%+-]{0,80}"), fullmatch=True),
    score=st.floats(-1e6, 1e6, allow_nan=False),
    features=st.lists(names, max_size=20, unique=True),
)
def test_fuzz_well_formed_payloads_are_accepted(
    event_type: str, model: str, reason: str, score: float, features: list[str]
) -> None:
    if ".." in model + reason:
        return
    event = pl.parse_event(
        event_type,
        {**VALID, "model": model, "reason": reason, "score": score, "features": features},
    )
    really_valid(event)


# --- check-payload: the GitHub event file --------------------------------------------------


def write_event(tmp_path: Path, event: Any, name: str = "event.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(event), encoding="utf-8")
    return path


def dispatch_event(client_payload: Any, action: str = "drift-detected") -> dict[str, Any]:
    # Shape of GitHub's repository_dispatch webhook payload (trimmed).
    return {
        "action": action,
        "branch": "main",
        "client_payload": client_payload,
        "repository": {"full_name": "acme/flights"},
        "sender": {"login": "monitor-bot"},
    }


def test_check_payload_accepts_a_dispatch_and_writes_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = write_event(tmp_path, dispatch_event(VALID))
    out = tmp_path / "build" / "trigger.json"
    code = main(["check-payload", "--event-path", str(event), "--out", str(out)])
    assert code == 0
    trigger = json.loads(out.read_text())
    assert trigger["schema"] == 1
    assert trigger["event_name"] == "repository_dispatch"
    assert trigger["event_type"] == "drift-detected"
    assert trigger["client_payload"] == VALID
    assert capsys.readouterr().out.startswith("trigger ok: drift-detected: model flight-delay")


def test_check_payload_rejects_and_removes_a_stale_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trigger.json"
    out.write_text('{"stale": true}')
    event = write_event(tmp_path, dispatch_event({**VALID, "model": "x$(id)"}))
    code = main(["check-payload", "--event-path", str(event), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "retrain check-payload: error: repository_dispatch rejected" in err
    assert "client_payload.model" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("event", "event_name", "summary"),
    [
        ({"schedule": "0 6 * * 1", "repository": {}}, None, "scheduled run"),
        ({"inputs": {}, "ref": "refs/heads/main", "workflow": "x"}, None, "manual run"),
        ({"inputs": {"model": "x"}}, "workflow_dispatch", "manual run"),
    ],
)
def test_check_payload_accepts_scheduled_and_manual_runs(
    tmp_path: Path, event: dict[str, Any], event_name: str | None, summary: str
) -> None:
    out = tmp_path / "trigger.json"
    argv = ["check-payload", "--event-path", str(write_event(tmp_path, event)), "--out", str(out)]
    if event_name:
        argv += ["--event-name", event_name]
    assert main(argv) == 0
    trigger = json.loads(out.read_text())
    assert trigger["client_payload"] is None and trigger["event_type"] is None
    assert trigger["summary"].startswith(summary)


def test_event_name_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = write_event(tmp_path, dispatch_event(VALID))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    assert main(["check-payload", "--out", str(tmp_path / "t.json")]) == 2
    assert "event 'push' does not trigger a retrain" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "event file not found"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (b"\xff\xfe", "is not valid JSON"),
        (json.dumps(dispatch_event(VALID, action="retrain-now")), "event_type"),
        (json.dumps(dispatch_event({f"k{i}": 1 for i in range(11)})), "at most 10"),
        (json.dumps({"action": "drift-detected", "branch": "main"}), "must be a JSON object"),
        (json.dumps({"pull_request": {}}), "does not trigger a retrain"),
    ],
)
def test_bad_event_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    path = tmp_path / "event.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code = main(["check-payload", "--event-path", str(path), "--out", str(tmp_path / "t.json")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_deeply_nested_event_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(UserError, match="is not valid JSON"):
        pl.read_event_file(path)


def test_oversized_event_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(" " * (pl.MAX_EVENT_FILE_BYTES + 1))
    with pytest.raises(UserError, match="bytes \\(limit"):
        pl.read_event_file(path)


def test_no_event_path_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    assert main(["check-payload"]) == 2
    assert "GITHUB_EVENT_PATH" in capsys.readouterr().err


@FUZZ
@given(
    event=st.dictionaries(
        st.sampled_from(["action", "client_payload", "branch", "schedule", "inputs", "x"]),
        json_values,
        max_size=6,
    ),
    event_name=st.none() | st.sampled_from([*pl.TRIGGERING_EVENTS, "push"]) | st.text(max_size=8),
)
def test_fuzz_github_event_files(event: dict[str, Any], event_name: str | None) -> None:
    try:
        trigger = pl.check_github_event(event, event_name)
    except UserError:
        return
    assert trigger["event_name"] in pl.TRIGGERING_EVENTS
    if trigger["client_payload"] is not None:
        really_valid(pl.parse_event(trigger["event_type"], trigger["client_payload"]))


def test_a_policy_payload_names_the_policy_and_its_evidence() -> None:
    # given the event a label-free policy sends
    event = pl.build_event(
        "performance-degraded",
        model="flight-delay",
        reason="estimated roc_auc 0.6612 vs registered 0.7301",
        window_start="2013-07-01",
        window_end="2013-08-01",
        score=0.0689,
        features=[],
        detector="retrain-monitor:estimated",
        policy="estimated",
        estimated=True,
        evidence={"estimate": 0.6612, "low": 0.65, "high": 0.672, "trigger": 0.03},
    )
    # then it round-trips through the receiving side's check
    body = event.body()
    again = pl.parse_event(body["event_type"], body["client_payload"])
    assert again.client_payload.estimated is True and again.client_payload.policy == "estimated"
    assert "policy estimated (estimated without labels)" in again.summary()
    # and a drift-rule payload carries none of the new keys (as senders before the policies)
    assert set(pl.parse_event("drift-detected", VALID).body()["client_payload"]) == set(VALID)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"policy": "Estimated"}, "policy must be"),
        ({"policy": "x;id"}, "policy must be"),
        ({"estimated": "true"}, "estimated"),
        ({"estimated": 1}, "estimated"),
        ({"evidence": {"estimate": "0.7"}}, "evidence.estimate"),
        ({"evidence": {"estimate": float("nan")}}, "not plain JSON"),
        ({"evidence": {"$(id)": 0.5}}, "feature name must be"),
        ({"evidence": {f"k{i}": 0.5 for i in range(9)}}, "at most 8"),
    ],
)
def test_bad_policy_fields_are_rejected(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(UserError, match=re.escape(problem)):
        pl.parse_event("performance-degraded", {**VALID, **extra})
