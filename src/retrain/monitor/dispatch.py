"""`retrain dispatch`: send a `repository_dispatch` event to GitHub (stdlib urllib, no new deps).

POST {api}/repos/{owner}/{repo}/dispatches with the body built and validated by
`retrain.monitor.payload.DispatchEvent`. Retries with exponential backoff on 5xx, 429, a
rate-limit 403 and network errors (honouring Retry-After); any other 4xx fails at once with
GitHub's message. The token is read from an environment variable and never printed or logged.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain import github
from retrain.errors import ServiceUnavailable, UserError
from retrain.monitor.payload import DispatchEvent, build_event, parse_event

if TYPE_CHECKING:
    from retrain.config import Params
    from retrain.config.dispatch import DispatchSection

log = logging.getLogger("retrain.dispatch")

API_VERSION = "2022-11-28"
USER_AGENT = "retrain-dispatch"
REDACTED = "***"
_REPO = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class DispatchResult:
    status: int
    attempts: int


def dispatch_url(api_url: str, repository: str) -> str:
    """Endpoint URL; refuses a malformed repo and a token-over-cleartext base URL."""
    if not _REPO.fullmatch(repository) or ".." in repository:
        raise UserError(
            f"repository must be owner/name, got {repository!r}",
            "pass --repo owner/name, set dispatch.repository or $GITHUB_REPOSITORY",
        )
    parsed = urllib.parse.urlsplit(api_url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise UserError(f"API URL must be http(s)://host[/path], got {api_url!r}", "fix --api-url")
    if parsed.scheme == "http" and parsed.hostname not in _LOCAL_HOSTS:
        raise UserError(
            f"refusing to send a token over plain http to {parsed.hostname}",
            "use an https:// API URL (http is allowed for 127.0.0.1/localhost only)",
        )
    return f"{api_url.rstrip('/')}/repos/{repository}/dispatches"


def read_token(env_name: str) -> str:
    return github.read_token(
        env_name,
        f"export {env_name}=<token with 'contents: write' on the repo> or pass --token-env",
    )


def request_headers(token: str | None) -> dict[str, str]:
    headers = {
        "Accept": "application/vnd.github+json",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Api-Version": API_VERSION,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def describe_request(url: str, event: DispatchEvent, token_present: bool) -> str:
    """The request as text for --dry-run, with the token redacted."""
    headers = request_headers(REDACTED if token_present else "<no token set>")
    lines = [f"POST {url}", *(f"{k}: {v}" for k, v in headers.items()), ""]
    lines.append(json.dumps(event.body(), indent=2))
    return "\n".join(lines)


def _retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or a rate-limit reset header."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    if headers.get("X-RateLimit-Remaining") == "0" and (reset := headers.get("X-RateLimit-Reset")):
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def _permanent_error(status: int, message: str, repository_url: str) -> UserError:
    fixes = {
        401: "the token is missing, expired or wrong; set a valid token in the token env var",
        403: "give the token 'contents: write' on the repository (or the 'repo' scope)",
        404: "check owner/name; the token must be able to see the repository",
        422: "the payload breaks GitHub's limits; see retrain.monitor.payload",
    }
    return UserError(
        f"GitHub refused the dispatch to {repository_url}: HTTP {status} {message}",
        fixes.get(status, "see the message from GitHub above"),
    )


def post_dispatch(
    url: str,
    body: dict[str, Any],
    token: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> DispatchResult:
    """POST the body; retry transient failures; UserError / ServiceUnavailable otherwise."""
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    attempts = policy.retries + 1
    last_problem = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url, data=data, headers=request_headers(token), method="POST"
        )
        wait: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout_s) as response:
                return DispatchResult(status=response.status, attempts=attempt)
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            message = github.github_message(exc.read())
            rate_limited = status == 403 and (
                headers.get("Retry-After") or headers.get("X-RateLimit-Remaining") == "0"
            )
            if not (status >= 500 or status == 429 or rate_limited):
                raise _permanent_error(status, message, url) from None
            last_problem = f"HTTP {status} {message}"
            wait = _retry_after(headers, time.time())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            last_problem = f"network error: {reason}"
        if attempt == attempts:
            break
        backoff = policy.backoff_s * 2 ** (attempt - 1)
        delay = min(policy.max_backoff_s, wait if wait is not None else backoff)
        log.warning(
            "dispatch attempt %d/%d failed (%s); retrying in %.1f s",
            attempt,
            attempts,
            last_problem,
            delay,
        )
        sleep(delay)
    raise ServiceUnavailable(
        f"GitHub did not accept the dispatch after {attempts} attempt(s); last: {last_problem}",
        "GitHub may be down or rate-limiting; re-run later (the monitor will trigger again)",
    )


def load_event_file(path: Path) -> DispatchEvent | None:
    """A `{event_type, client_payload}` file, or the monitor's drift.json (None: no trigger)."""
    from retrain import fileio
    from retrain.artifacts import DriftResult

    try:
        data = fileio.read_json(path, "payload file", "pass the monitor's drift.json")
    except RecursionError:
        raise UserError(
            f"{path} is not valid JSON: nested too deeply", "pass a JSON file"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object", "pass the monitor's drift.json")
    if "event_type" not in data and "dispatch" in data:  # drift.json from `retrain monitor`
        if not isinstance(data["dispatch"], dict | None):
            raise UserError(
                f"{path}: 'dispatch' must be an object or null", "re-run retrain monitor"
            )
        return DriftResult.from_data(
            data, f"drift report {path}", "re-run retrain monitor"
        ).dispatch
    extra = set(data) - {"event_type", "client_payload"}
    if extra:
        raise UserError(
            f"{path}: unexpected keys {sorted(extra)}", "keep only event_type and client_payload"
        )
    return parse_event(data.get("event_type"), data.get("client_payload"), source=str(path))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrain dispatch",
        description="Send a repository_dispatch event (drift-detected, performance-degraded, "
        "data-updated) to GitHub so the retrain workflow starts.",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--payload", type=Path, help="drift.json from `retrain monitor`, or {event_type, ...}"
    )
    parser.add_argument("--event-type", help="build the payload from flags instead of a file")
    parser.add_argument("--model", help="model name (default: base.model_name)")
    parser.add_argument("--reason", default="manual dispatch")
    parser.add_argument("--window-start")
    parser.add_argument("--window-end")
    parser.add_argument("--score", type=float, default=0.0)
    parser.add_argument("--features", default="", help="comma-separated feature names")
    parser.add_argument("--detector", default="manual")
    parser.add_argument(
        "--repo", help="owner/name (default: dispatch.repository, $GITHUB_REPOSITORY)"
    )
    parser.add_argument("--api-url", help="API base (default: $GITHUB_API_URL, dispatch.api_url)")
    parser.add_argument(
        "--token-env", help="env var holding the token (default: dispatch.token_env)"
    )
    parser.add_argument("--retries", type=int, help="override dispatch.retries")
    parser.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    return parser


def event_from_args(args: argparse.Namespace, params: Params) -> DispatchEvent | None:
    """The event of --payload FILE, or built from the flags (None: the file has no trigger)."""
    if (args.payload is None) == (args.event_type is None):
        raise UserError(
            "give either --payload FILE or --event-type (with --window-start/--window-end)",
            "e.g. retrain dispatch --payload build/monitor/drift.json",
        )
    if args.payload is not None:
        return load_event_file(args.payload)
    if not (args.window_start and args.window_end):
        raise UserError("--event-type needs --window-start and --window-end", "add both dates")
    return build_event(
        args.event_type,
        model=args.model or params.base.model_name,
        reason=args.reason,
        window_start=args.window_start,
        window_end=args.window_end,
        score=args.score,
        features=[f for f in args.features.split(",") if f],
        detector=args.detector,
    )


def target_url(args: argparse.Namespace, settings: DispatchSection) -> tuple[str, str]:
    """(repository, endpoint URL) from the flags, the environment and the params."""
    repository = args.repo or settings.repository or os.environ.get("GITHUB_REPOSITORY", "")
    if not repository:
        raise UserError(
            "no repository to dispatch to", "pass --repo owner/name or set dispatch.repository"
        )
    api_url = args.api_url or os.environ.get("GITHUB_API_URL") or settings.api_url
    return repository, dispatch_url(api_url, repository)


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params

    args = _parser().parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    settings = params.dispatch
    event = event_from_args(args, params)
    if event is None:
        print(f"no trigger in {args.payload}: nothing to dispatch")
        return 0
    repository, url = target_url(args, settings)
    token_env = args.token_env or settings.token_env
    if args.dry_run:
        print(describe_request(url, event, token_present=bool(os.environ.get(token_env))))
        return 0
    token = read_token(token_env)
    retries = settings.retries if args.retries is None else max(0, args.retries)
    policy = RetryPolicy(retries, settings.backoff_s, settings.max_backoff_s, settings.timeout_s)
    result = post_dispatch(url, event.body(), token, policy)
    log.info(
        "sent %s to %s (HTTP %d, %d attempt(s))",
        event.event_type,
        repository,
        result.status,
        result.attempts,
    )
    print(f"dispatched: {event.summary()}")
    return 0
