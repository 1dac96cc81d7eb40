"""`retrain dispatch` against a local stand-in for GitHub's dispatches endpoint."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain.cli import main
from retrain.errors import ServiceUnavailable, UserError
from retrain.monitor import dispatch as dp
from retrain.monitor.payload import parse_event

from .github_standin import GitHubStandin
from .test_payload import VALID

FAST = dp.RetryPolicy(retries=3, backoff_s=1.0, max_backoff_s=30.0, timeout_s=5.0)


@pytest.fixture
def github() -> Iterator[GitHubStandin]:
    with GitHubStandin() as standin:
        yield standin


def url_of(standin: GitHubStandin) -> str:
    return dp.dispatch_url(standin.url, standin.repository)


def raw_post(url: str, body: Any, token: str | None, agent: str | None = "t") -> int:
    """POST with exactly the headers given (http.client adds no User-Agent of its own)."""
    parts = urllib.parse.urlsplit(url)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if agent:
        headers["User-Agent"] = agent
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("POST", parts.path, body=data, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


# --- the stand-in enforces GitHub's contract -------------------------------------------------


def test_standin_enforces_the_endpoint_contract(github: GitHubStandin) -> None:
    url = url_of(github)
    good = {"event_type": "drift-detected", "client_payload": VALID}
    assert raw_post(url, good, github.token) == 204
    assert raw_post(url, good, None) == 401
    assert raw_post(url, good, "ghp_wrong") == 401
    assert raw_post(url, good, github.token, agent=None) == 403
    assert raw_post(url.replace("flights", "other"), good, github.token) == 404
    assert raw_post(url, b"{nope", github.token) == 400
    eleven = {"event_type": "x", "client_payload": {f"k{i}": i for i in range(11)}}
    assert raw_post(url, eleven, github.token) == 422
    huge = {"event_type": "x", "client_payload": {"blob": "x" * 65_536}}
    assert raw_post(url, huge, github.token) == 422
    assert raw_post(url, {"client_payload": {}}, github.token) == 422
    assert raw_post(url, {"event_type": "e" * 101}, github.token) == 422
    assert raw_post(url, {"event_type": "x", "client_payload": [1]}, github.token) == 422
    assert len(github.accepted) == 1


# --- post_dispatch: success, retries, permanent errors ---------------------------------------


def test_success_sends_the_validated_body_with_github_headers(github: GitHubStandin) -> None:
    event = parse_event("drift-detected", VALID)
    result = dp.post_dispatch(url_of(github), event.body(), github.token, FAST, sleep=_no_sleep)
    assert result == dp.DispatchResult(status=204, attempts=1)
    assert github.accepted == [event.body()]
    headers = github.requests[0].headers
    assert headers["authorization"] == f"Bearer {github.token}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == dp.API_VERSION


def _no_sleep(_: float) -> None:
    pass


def test_retries_5xx_with_exponential_backoff() -> None:
    delays: list[float] = []
    with GitHubStandin(fail_first=2, fail_status=502) as github:
        result = dp.post_dispatch(
            url_of(github), {"event_type": "x"}, github.token, FAST, sleep=delays.append
        )
    assert result.attempts == 3 and result.status == 204
    assert delays == [1.0, 2.0]
    assert [r.status for r in github.requests] == [502, 502, 204]


def test_429_honours_retry_after() -> None:
    delays: list[float] = []
    with GitHubStandin(fail_first=1, fail_status=429, retry_after="7") as github:
        result = dp.post_dispatch(
            url_of(github), {"event_type": "x"}, github.token, FAST, sleep=delays.append
        )
    assert result.attempts == 2
    assert delays == [7.0]


def test_retry_after_is_capped_by_max_backoff() -> None:
    delays: list[float] = []
    with GitHubStandin(fail_first=1, fail_status=429, retry_after="3600") as github:
        dp.post_dispatch(url_of(github), {"event_type": "x"}, github.token, FAST, delays.append)
    assert delays == [FAST.max_backoff_s]


def test_rate_limited_403_is_retried_but_plain_403_is_not() -> None:
    with GitHubStandin(fail_first=1, fail_status=403, retry_after="1") as github:
        assert dp.post_dispatch(url_of(github), {"event_type": "x"}, github.token, FAST, _no_sleep)
    with GitHubStandin(fail_first=1, fail_status=403) as github:
        with pytest.raises(UserError, match="HTTP 403") as err:
            dp.post_dispatch(url_of(github), {"event_type": "x"}, github.token, FAST, _no_sleep)
        assert len(github.requests) == 1
    assert err.value.exit_code == 2


def test_persistent_5xx_gives_service_unavailable_after_all_attempts() -> None:
    with (
        GitHubStandin(fail_first=99, fail_status=503) as github,
        pytest.raises(ServiceUnavailable, match="after 4 attempt\\(s\\); last: HTTP 503"),
    ):
        dp.post_dispatch(url_of(github), {"event_type": "x"}, github.token, FAST, _no_sleep)
    assert len(github.requests) == 4


def test_unreachable_server_gives_service_unavailable() -> None:
    with GitHubStandin() as github:
        url = url_of(github)
    # The server is closed now: connection refused on every attempt.
    with pytest.raises(ServiceUnavailable, match="network error") as err:
        dp.post_dispatch(url, {"event_type": "x"}, "t", FAST, _no_sleep)
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"event_type": "x"}, "ghp_wrong", "HTTP 401 'Bad credentials'"),
        ({"event_type": "x", "client_payload": {f"k{i}": 1 for i in range(11)}}, None, "422"),
        ({"event_type": ""}, None, "HTTP 422"),
    ],
)
def test_4xx_fails_at_once_with_githubs_message(
    github: GitHubStandin, body: dict[str, Any], token: str | None, status: str
) -> None:
    with pytest.raises(UserError, match=status) as err:
        dp.post_dispatch(url_of(github), body, token or github.token, FAST, _no_sleep)
    assert len(github.requests) == 1  # no retry
    assert github.token not in str(err.value)


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text("dispatch:\n  retries: 2\n  backoff_s: 0\n  max_backoff_s: 0\n")
    return path


def drift_report(action: str, dispatch: dict[str, Any] | None) -> dict[str, Any]:
    """A drift.json as `retrain monitor` writes it (one feature, no champion)."""
    return {
        "schema": 1,
        "model": "flight-delay",
        "champion_version": None,
        "reference": {"window": "2013-02-01..2013-03-01 (UTC)", "n_rows": 500},
        "current": {"window": "2013-07-01..2013-08-01 (UTC)", "n_rows": 500},
        "statistics": {
            "numeric": "psi",
            "categorical": "chisquare",
            "prediction": "psi",
            "bins": 10,
        },
        "features": [
            {
                "feature": "temp",
                "kind": "numeric",
                "statistic": "psi",
                "score": 0.9,
                "p_value": None,
                "threshold": 0.2,
                "drifted": True,
                "missing_reference": 0.0,
                "missing_current": 0.0,
            }
        ],
        "n_features": 1,
        "n_drifted": 1,
        "drift_share": 1.0,
        "prediction": None,
        "performance": None,
        "signals": {"drift": True, "prediction_drift": False, "decay": False},
        "trigger": {"drift_share": 0.3, "decay": 0.02, "persistence": 1, "consecutive": 1},
        "action": action,
        "reason": "1 of 1 features drifted",
        "dispatch": dispatch,
    }


@pytest.fixture
def drift_json(tmp_path: Path) -> Path:
    path = tmp_path / "drift.json"
    dispatch = {"event_type": "drift-detected", "client_payload": VALID}
    path.write_text(json.dumps(drift_report("retrain", dispatch)))
    return path


def run(argv: list[str]) -> int:
    return main(["dispatch", *argv])


def test_cli_sends_the_monitor_payload_and_never_shows_the_token(
    github: GitHubStandin,
    params_file: Path,
    drift_json: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    caplog.set_level(logging.DEBUG)
    argv = ["--params", str(params_file), "--payload", str(drift_json)]
    code = run([*argv, "--repo", github.repository, "--api-url", github.url])
    assert code == 0
    assert github.accepted == [{"event_type": "drift-detected", "client_payload": VALID}]
    out = capsys.readouterr()
    assert "dispatched: drift-detected" in out.out
    assert github.token not in out.out + out.err + caplog.text


def test_cli_reads_repo_and_api_url_from_the_environment(
    github: GitHubStandin, params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", github.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", github.repository)
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    argv = ["--params", str(params_file), "--token-env", "MY_TOKEN", "--event-type"]
    code = run(
        [
            *argv,
            "data-updated",
            "--window-start",
            "2013-12-01",
            "--window-end",
            "2014-01-01",
            "--reason",
            "new month of flights",
        ]
    )
    assert code == 0
    sent = github.accepted[0]
    assert sent["event_type"] == "data-updated"
    assert sent["client_payload"]["model"] == "flight-delay"
    assert sent["client_payload"]["window"] == {"start": "2013-12-01", "end": "2014-01-01"}


def test_cli_retries_then_succeeds(
    params_file: Path, drift_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GitHubStandin(fail_first=2, fail_status=502) as github:
        monkeypatch.setenv("GITHUB_TOKEN", github.token)
        code = run(
            [
                "--params",
                str(params_file),
                "--payload",
                str(drift_json),
                "--repo",
                github.repository,
                "--api-url",
                github.url,
            ]
        )
    assert code == 0
    assert [r.status for r in github.requests] == [502, 502, 204]


def test_cli_exit_3_when_github_keeps_failing(
    params_file: Path,
    drift_json: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GitHubStandin(fail_first=99, fail_status=500) as github:
        monkeypatch.setenv("GITHUB_TOKEN", github.token)
        code = run(
            [
                "--params",
                str(params_file),
                "--payload",
                str(drift_json),
                "--repo",
                github.repository,
                "--api-url",
                github.url,
            ]
        )
    assert code == 3
    assert len(github.requests) == 3  # retries: 2 in params
    assert "did not accept the dispatch after 3 attempt(s)" in capsys.readouterr().err


def test_dry_run_prints_the_request_redacted_and_sends_nothing(
    github: GitHubStandin,
    params_file: Path,
    drift_json: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    code = run(
        [
            "--params",
            str(params_file),
            "--payload",
            str(drift_json),
            "--repo",
            github.repository,
            "--api-url",
            github.url,
            "--dry-run",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"POST {github.url}/repos/acme/flights/dispatches")
    assert "Authorization: Bearer ***" in out
    assert '"event_type": "drift-detected"' in out
    assert github.token not in out
    assert github.requests == []


def test_no_trigger_in_drift_json_sends_nothing(
    github: GitHubStandin, params_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    path = tmp_path / "quiet.json"
    path.write_text(json.dumps(drift_report("none", None)))
    code = run(
        [
            "--params",
            str(params_file),
            "--payload",
            str(path),
            "--repo",
            github.repository,
            "--api-url",
            github.url,
        ]
    )
    assert code == 0 and github.requests == []


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        ([], {}, "environment variable GITHUB_TOKEN is empty or not set"),
        ([], {"GITHUB_TOKEN": "ghp_x\n"}, "contains whitespace or control characters"),
        (["--repo", "acme"], {"GITHUB_TOKEN": "t"}, "repository must be owner/name"),
        (["--repo", "acme/../x"], {"GITHUB_TOKEN": "t"}, "repository must be owner/name"),
        (["--api-url", "http://evil.example"], {"GITHUB_TOKEN": "t"}, "plain http"),
        (["--api-url", "ftp://x"], {"GITHUB_TOKEN": "t"}, "API URL must be http"),
    ],
)
def test_cli_bad_settings_fail_before_sending(
    github: GitHubStandin,
    params_file: Path,
    drift_json: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    argv = [
        "--params",
        str(params_file),
        "--payload",
        str(drift_json),
        "--repo",
        github.repository,
        "--api-url",
        github.url,
        *extra,
    ]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "ghp_x" not in err
    assert github.requests == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "payload file not found"),
        ("nope", "is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
        ("[]", "must hold a JSON object"),
        (json.dumps({"event_type": "deploy", "client_payload": VALID}), "event_type"),
        (
            json.dumps({"event_type": "drift-detected", "client_payload": {**VALID, "x": 1}}),
            "Extra inputs",
        ),
        (
            json.dumps({"event_type": "drift-detected", "client_payload": VALID, "ref": "m"}),
            "unexpected keys",
        ),
        (json.dumps({"dispatch": "yes"}), "must be an object or null"),
        (json.dumps({"schema": 1, "dispatch": None}), "is not a valid drift report"),
    ],
)
def test_cli_bad_payload_files_send_nothing(
    github: GitHubStandin,
    params_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", github.token)
    path = tmp_path / "payload.json"
    if content is not None:
        path.write_text(content)
    argv = [
        "--params",
        str(params_file),
        "--payload",
        str(path),
        "--repo",
        github.repository,
        "--api-url",
        github.url,
    ]
    assert run(argv) == 2
    assert message in capsys.readouterr().err
    assert github.requests == []


def test_cli_needs_exactly_one_payload_source(
    params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--params", str(params_file)]) == 2
    assert "either --payload FILE or --event-type" in capsys.readouterr().err
    assert run(["--params", str(params_file), "--event-type", "data-updated"]) == 2
    assert "--window-start" in capsys.readouterr().err
