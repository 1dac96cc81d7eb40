"""`retrain github`: the model's one pull request and its one report comment, via GitHub's REST API.

Standard library only (urllib), so the workflows' publish job runs it with a bare Python
(`PYTHONPATH=src python3 -m retrain.github ...`) and installs nothing from the candidate: no
`make sync`, no npm. The token is read from an environment variable, sent only as an
`Authorization` header to the API URL, and never printed.

`pr`: find the open pull request whose head is `--head` *in this repository* (head branch AND
head repository: a fork's branch of the same name is never touched), reading every page; update
its title, body and base, or create it. `comment`: one comment per `--marker`, written by
`--author` (default: the PR's author, i.e. the bot that opened it): updated in place, else
created. Relative image links in the body become links to the run (nothing is uploaded to a
third-party host). `dispatch`: send the repository_dispatch event `retrain monitor` wrote into
drift.json, from a job that installed nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import ServiceUnavailable, UserError

API_VERSION = "2022-11-28"
USER_AGENT = "retrain-github"
PER_PAGE = 100  # GitHub's maximum page size
MAX_PAGES = 50  # 5,000 open PRs or comments: beyond that something else is wrong
COMMENT_LIMIT = 65_536  # GitHub refuses longer issue comments
_REPO = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]{1,200}")
_MARKER = re.compile(r"[A-Za-z0-9._-]{1,100}")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool


@dataclass
class Api:
    """A minimal authenticated client for one repository."""

    api_url: str
    repository: str
    token: str
    timeout_s: float = 20.0
    retries: int = 3

    def __post_init__(self) -> None:
        if not _REPO.fullmatch(self.repository) or ".." in self.repository:
            raise UserError(
                f"repository must be owner/name, got {self.repository!r}",
                "pass --repo owner/name (the workflow passes $GITHUB_REPOSITORY)",
            )
        parsed = urllib.parse.urlsplit(self.api_url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise UserError(
                f"API URL must be http(s)://host, got {self.api_url!r}", "fix --api-url"
            )
        if parsed.scheme == "http" and parsed.hostname not in _LOCAL_HOSTS:
            raise UserError(
                f"refusing to send a token over plain http to {parsed.hostname}",
                "use an https:// API URL (http is allowed for 127.0.0.1/localhost only)",
            )

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        base = f"{self.api_url.rstrip('/')}/repos/{self.repository}{path}"
        return f"{base}?{urllib.parse.urlencode(query)}" if query else base

    def call(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[Any, Any]:
        """(decoded JSON, response headers); retries 5xx and network errors, not 4xx."""
        data = None if body is None else json.dumps(body).encode()
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "User-Agent": USER_AGENT,
            "X-GitHub-Api-Version": API_VERSION,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        problem = ""
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    raw = response.read()
                    return (json.loads(raw) if raw else None), response.headers
            except urllib.error.HTTPError as exc:
                message = github_message(exc.read())
                if exc.code < 500:
                    raise _refused(method, url, exc.code, message) from None
                problem = f"HTTP {exc.code} {message}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = f"network error: {getattr(exc, 'reason', exc)}"
            if attempt < self.retries:
                time.sleep(min(30.0, 2.0**attempt))
        raise ServiceUnavailable(
            f"GitHub did not answer {method} {_strip_query(url)}: {problem}",
            "GitHub may be down; re-run the job later",
        )

    def pages(self, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following the Link header's rel="next"."""
        items: list[dict[str, Any]] = []
        url: str | None = self.url(path, {**query, "per_page": PER_PAGE})
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            data, headers = self.call("GET", url)
            if not isinstance(data, list):
                raise ServiceUnavailable(f"GitHub answered {path} with a non-list", "re-run")
            items += data
            url = next_link(headers.get("Link", "") if headers else "")
        raise ServiceUnavailable(f"more than {MAX_PAGES} pages at {path}", "close stale PRs")


def next_link(link: str) -> str | None:
    """The rel="next" URL of an RFC 8288 Link header, if any."""
    for part in link.split(","):
        match = re.fullmatch(r"\s*<([^>]+)>\s*;(.*)", part)
        if match and re.search(r'\brel="?next"?', match.group(2)):
            return match.group(1)
    return None


def github_message(body: bytes) -> str:
    """GitHub's error message from a response body, quoted (no raw newlines in our logs)."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
    else:
        text = str(data.get("message", "")) if isinstance(data, dict) else ""
        if isinstance(data, dict) and data.get("errors"):
            text += f" {data['errors']!r}"
    return repr(text[:300])


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _refused(method: str, url: str, status: int, message: str) -> UserError:
    fixes = {
        401: "the token is missing, expired or wrong (see docs/github.md, RETRAIN_BOT_TOKEN)",
        403: "give the token 'Pull requests: read & write' and 'Contents: read & write'",
        404: "check owner/name; the token must be able to see the repository",
        422: "GitHub rejected the request: is the head branch pushed? see the message above",
    }
    return UserError(
        f"GitHub refused {method} {_strip_query(url)}: HTTP {status} {message}",
        fixes.get(status, "see GitHub's message above"),
    )


def read_token(env_name: str, missing_hint: str | None = None) -> str:
    """The token in $env_name; never echoes its value, only what is wrong with it."""
    token = os.environ.get(env_name, "")
    if not token:
        raise UserError(
            f"no GitHub token: environment variable {env_name} is empty or not set",
            missing_hint or f"set the secret the workflow passes as {env_name} (docs/github.md)",
        )
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise UserError(
            f"the token in {env_name} contains whitespace or control characters",
            "copy the token again without the trailing newline",
        )
    return token


# --------------------------------------------------------------------------- pull request


def find_pr(api: Api, head: str) -> dict[str, Any] | None:
    """The open PR whose head is `head` in this very repository (never a fork's namesake)."""
    found = [
        pr
        for pr in api.pages("/pulls", {"state": "open", "head": f"{api.owner}:{head}"})
        if pr.get("head", {}).get("ref") == head
        and ((pr.get("head") or {}).get("repo") or {}).get("full_name") == api.repository
    ]
    return min(found, key=lambda pr: int(pr["number"])) if found else None


def upsert_pr(api: Api, head: str, base: str, title: str, body: str) -> PullRequest:
    """Update the model's open PR (title, body, base: they describe the newest candidate) or
    create it."""
    for name, value in (("head", head), ("base", base)):
        if not _BRANCH.fullmatch(value) or ".." in value:
            raise UserError(f"--{name} is not a branch name: {value!r}", f"fix --{name}")
    if not title.strip():
        raise UserError("the pull request title is empty", "pass --title")
    existing = find_pr(api, head)
    fields = {"title": title, "body": body, "base": base}
    if existing is not None:
        number = int(existing["number"])
        data, _ = api.call("PATCH", api.url(f"/pulls/{number}"), fields)
        return PullRequest(number, str(data["html_url"]), created=False)
    data, _ = api.call("POST", api.url("/pulls"), {**fields, "head": head})
    return PullRequest(int(data["number"]), str(data["html_url"]), created=True)


# --------------------------------------------------------------------------- comment


def marker_line(marker: str) -> str:
    return f"<!-- retrain-comment: {marker} -->"


def link_images(markdown: str, run_url: str | None) -> str:
    """Relative images (PNG files beside the report) cannot be shown without uploading them;
    each becomes a link to the run, whose artifact holds it."""

    def replace(match: re.Match[str]) -> str:
        alt, target = match.group(1), match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.IGNORECASE):
            return match.group(0)  # an absolute URL: shown as GitHub shows it
        label = f"{alt or target} (plot in the run's report artifact)"
        return f"[{label}]({run_url})" if run_url else f"_{label}_"

    return re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", replace, markdown)


def comment_body(markdown: str, marker: str, run_url: str | None) -> str:
    body = link_images(markdown, run_url)
    tail = f"\n\n{marker_line(marker)}\n"
    if len(body) + len(tail) > COMMENT_LIMIT:
        cut = COMMENT_LIMIT - len(tail) - 200
        body = body[:cut] + "\n\n_… cut: a comment is limited to 65,536 characters; the full "
        body += "report is in the run's artifact._"
    return body + tail


def upsert_comment(
    api: Api, number: int, marker: str, markdown: str, author: str | None, run_url: str | None
) -> tuple[int, bool]:
    """(comment id, created) of the one comment carrying `marker` written by `author`."""
    if not _MARKER.fullmatch(marker):
        raise UserError(f"--marker must be [A-Za-z0-9._-]+, got {marker!r}", "fix --marker")
    if author is None:
        pr, _ = api.call("GET", api.url(f"/pulls/{number}"))
        author = str(pr["user"]["login"])
    body = comment_body(markdown, marker, run_url)
    tag = marker_line(marker)
    for comment in api.pages(f"/issues/{number}/comments", {}):
        if (comment.get("user") or {}).get("login") == author and tag in (
            comment.get("body") or ""
        ):
            api.call("PATCH", api.url(f"/issues/comments/{comment['id']}"), {"body": body})
            return int(comment["id"]), False
    data, _ = api.call("POST", api.url(f"/issues/{number}/comments"), {"body": body})
    return int(data["id"]), True


# --------------------------------------------------------------------------- dispatch


def dispatch(api: Api, event: Any) -> str:
    """POST a repository_dispatch `{event_type, client_payload}` (built and validated by
    `retrain monitor`, which wrote it into drift.json's `dispatch`); checks GitHub's limits."""
    if not isinstance(event, dict) or set(event) - {"event_type", "client_payload"}:
        raise UserError("the event must be {event_type, client_payload}", "pass drift.json")
    kind = event.get("event_type")
    payload = event.get("client_payload", {})
    if not isinstance(kind, str) or not 1 <= len(kind) <= 100:
        raise UserError("event_type must be a string of 1-100 characters", "re-run the monitor")
    if not isinstance(payload, dict) or len(payload) > 10:
        raise UserError("client_payload must be an object of at most 10 keys", "see payload.py")
    if len(json.dumps(payload)) > 65_535:
        raise UserError("client_payload is over 65,535 characters", "see payload.py")
    api.call("POST", api.url("/dispatches"), {"event_type": kind, "client_payload": payload})
    return kind


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrain github",
        description="The model's pull request and its report comment (GitHub REST API).",
    )
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY", ""))
    parser.add_argument(
        "--api-url", default=os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    )
    parser.add_argument("--token-env", default="GITHUB_TOKEN", help="env var holding the token")
    parser.add_argument("--github-output", type=Path, help="append number=/url= to this file")
    sub = parser.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("pr", help="create or update the one open PR of a head branch")
    pr.add_argument("--head", required=True, help="head branch in this repository")
    pr.add_argument("--base", required=True, help="base branch")
    pr.add_argument("--title", required=True)
    pr.add_argument("--body-file", type=Path, required=True)
    comment = sub.add_parser("comment", help="create or update the one comment of a marker")
    comment.add_argument("--pr", type=int, required=True, help="pull request number")
    comment.add_argument("--marker", required=True, help="names the comment (one per marker)")
    comment.add_argument("--body-file", type=Path, required=True)
    comment.add_argument("--author", help="login whose comment is updated (default: PR author)")
    comment.add_argument("--run-url", help="where the report's images are (the run)")
    send = sub.add_parser("dispatch", help="send a repository_dispatch event")
    send.add_argument(
        "--drift", type=Path, required=True, help="drift.json of `retrain monitor` (its dispatch)"
    )
    return parser


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}", "pass an existing file") from None


def cli(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    api = Api(args.api_url, args.repo, read_token(args.token_env))
    if args.command == "pr":
        result = upsert_pr(api, args.head, args.base, args.title, _read(args.body_file))
        verb = "created" if result.created else "updated"
        print(f"pull request #{result.number} {verb}: {result.url}")
        outputs = f"number={result.number}\nurl={result.url}\n"
    elif args.command == "dispatch":
        try:
            drift = json.loads(_read(args.drift))
        except json.JSONDecodeError as exc:
            raise UserError(f"{args.drift} is not JSON: {exc}", "pass drift.json") from None
        event = drift.get("dispatch") if isinstance(drift, dict) else None
        if event is None:
            print(f"no trigger in {args.drift}: nothing to dispatch")
            return 0
        print(f"dispatched {dispatch(api, event)} to {api.repository}")
        outputs = ""
    else:
        ident, created = upsert_comment(
            api, args.pr, args.marker, _read(args.body_file), args.author, args.run_url
        )
        print(f"comment {ident} {'created' if created else 'updated'} on #{args.pr}")
        outputs = f"comment={ident}\n"
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as out:
            out.write(outputs)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m retrain.github`: the same command without the package's dependencies."""
    try:
        return cli(sys.argv[1:] if argv is None else argv)
    except UserError as err:
        print(f"retrain github: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
