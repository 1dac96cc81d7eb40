"""A local stand-in for the parts of GitHub's REST API the publish job uses, on 127.0.0.1.

It enforces the documented contract instead of accepting anything:
- 403 without a User-Agent; 401 without a token or with an unknown one; each token acts as a
  login (the PR's and comment's author is the token's user, as on GitHub);
- `GET /repos/{o}/{r}/pulls`: `state` (open/closed/all), `head` only as `user:ref-name`
  (filters on the head repository's owner AND branch), `base`; newest first; `per_page`
  default 30, at most 100; `page`; a `Link` header with rel="next" while more pages exist;
- `POST /repos/{o}/{r}/pulls`: 422 when the head branch does not exist in the repository
  (read from the bare git repository standing in for it), when base does not exist, or when
  an open PR for the same head and base exists ("A pull request already exists");
- `PATCH /repos/{o}/{r}/pulls/{n}` (title, body, base, state), `GET .../pulls/{n}`;
- issue comments: list (paged like pulls), create, `PATCH /repos/{o}/{r}/issues/comments/{id}`.
Fork PRs are added with `add_fork_pr` (their head repository is another `owner/name`).
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOCS = {"documentation_url": "https://docs.github.com/rest/pulls/pulls"}


@dataclass
class GitHubApi:
    origin: Path  # the bare repository standing in for owner/repo
    repository: str = "owner/repo"
    tokens: dict[str, str] = field(default_factory=lambda: {"bot-token": "retrain-bot"})
    pulls: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with standin._lock:
                    status, reply, extra = standin._answer(method, self.path, self.headers, body)
                standin.requests.append((method, self.path, status))
                data = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.daemon = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> GitHubApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- state helpers for tests ----------------------------------------------------------------

    def _pr(self, title: str, head: str, base: str, repo: str, login: str, body: str) -> dict:
        number = len(self.pulls) + 1
        pr = {
            "number": number,
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
            "state": "open",
            "title": title,
            "body": body,
            "user": {"login": login},
            "head": {
                "ref": head,
                "label": f"{repo.split('/')[0]}:{head}",
                "repo": {"full_name": repo},
            },
            "base": {"ref": base, "repo": {"full_name": self.repository}},
            "edits": 0,
        }
        self.pulls.append(pr)
        return pr

    def add_fork_pr(self, fork: str, head: str, title: str = "a fork's PR") -> dict:
        return self._pr(title, head, "main", fork, fork.split("/")[0], "from a fork")

    def add_other_pr(self, head: str) -> dict:
        """An open PR of another branch of this repository (head need not exist)."""
        return self._pr(f"work on {head}", head, "main", self.repository, "someone", "")

    def open_prs(self, head: str, repo: str | None = None) -> list[dict]:
        repo = repo or self.repository
        return [p for p in self.pulls if p["state"] == "open" and p["head"]["ref"] == head
                and p["head"]["repo"]["full_name"] == repo]  # fmt: skip

    # -- the API ---------------------------------------------------------------------------------

    def _branch_exists(self, name: str) -> bool:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"],
            cwd=self.origin, capture_output=True,
        )  # fmt: skip
        return proc.returncode == 0

    def _page(self, items: list[dict], query: dict[str, str], path: str) -> tuple[int, Any, dict]:
        try:
            per_page = int(query.get("per_page", "30"))
            page = int(query.get("page", "1"))
        except ValueError:
            return 422, {"message": "Validation Failed", **DOCS}, {}
        per_page = max(1, min(per_page, 100))
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        extra = {}
        if start + per_page < len(items):
            nxt = dict(query, page=str(page + 1), per_page=str(per_page))
            extra["Link"] = f'<{self.url}{path}?{urllib.parse.urlencode(nxt)}>; rel="next"'
        return 200, chunk, extra

    def _answer(self, method: str, raw_path: str, headers: Any, body: bytes):
        if not headers.get("User-Agent"):
            return 403, {"message": "Request forbidden by administrative rules."}, {}
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if not token:
            return 401, {"message": "Requires authentication", **DOCS}, {}
        login = self.tokens.get(token)
        if scheme.lower() not in {"bearer", "token"} or login is None:
            return 401, {"message": "Bad credentials", **DOCS}, {}
        parsed = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        prefix = f"/repos/{self.repository}"
        if not parsed.path.startswith(prefix + "/"):
            return 404, {"message": "Not Found", **DOCS}, {}
        path = parsed.path[len(prefix) :]
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return 400, {"message": "Problems parsing JSON", **DOCS}, {}
        if path == "/pulls" and method == "GET":
            return self._list_pulls(query, parsed.path)
        if path == "/pulls" and method == "POST":
            return self._create_pull(data, login)
        if (parts := path.split("/"))[1:2] == ["pulls"] and len(parts) == 3:
            pr = next((p for p in self.pulls if str(p["number"]) == parts[2]), None)
            if pr is None:
                return 404, {"message": "Not Found", **DOCS}, {}
            if method == "GET":
                return 200, pr, {}
            if method == "PATCH":
                return self._edit_pull(pr, data)
        if parts[1:2] == ["issues"] and len(parts) == 4 and parts[3] == "comments":
            if not any(str(p["number"]) == parts[2] for p in self.pulls):
                return 404, {"message": "Not Found", **DOCS}, {}
            if method == "GET":
                mine = [c for c in self.comments if str(c["issue"]) == parts[2]]
                return self._page(mine, query, parsed.path)
            if method == "POST":
                return self._write_comment(None, data, login, int(parts[2]))
        if parts[1:3] == ["issues", "comments"] and len(parts) == 4 and method == "PATCH":
            found = next((c for c in self.comments if str(c["id"]) == parts[3]), None)
            if found is None:
                return 404, {"message": "Not Found", **DOCS}, {}
            return self._write_comment(found, data, login, found["issue"])
        return 404, {"message": "Not Found", **DOCS}, {}

    def _list_pulls(self, query: dict[str, str], path: str):
        state = query.get("state", "open")
        if state not in {"open", "closed", "all"}:
            return 422, {"message": "Validation Failed", **DOCS}, {}
        items = [p for p in self.pulls if state == "all" or p["state"] == state]
        if "head" in query:
            owner, sep, ref = query["head"].partition(":")
            if not sep:  # documented format: user:ref-name or organization:ref-name
                return 422, {"message": "Validation Failed", **DOCS}, {}
            items = [p for p in items if p["head"]["ref"] == ref
                     and p["head"]["repo"]["full_name"].split("/")[0] == owner]  # fmt: skip
        if "base" in query:
            items = [p for p in items if p["base"]["ref"] == query["base"]]
        items = sorted(items, key=lambda p: -p["number"])  # sort=created, direction=desc
        return self._page(items, query, path)

    def _create_pull(self, data: dict, login: str):
        for key in ("title", "head", "base"):
            if not isinstance(data.get(key), str) or not data[key]:
                return 422, {"message": "Validation Failed", "errors": [{"field": key}]}, {}
        head = data["head"].split(":", 1)[-1]
        if not self._branch_exists(head):
            return 422, {"message": "Validation Failed",
                         "errors": [{"field": "head", "code": "invalid"}]}, {}  # fmt: skip
        if not self._branch_exists(data["base"]):
            return 422, {"message": "Validation Failed",
                         "errors": [{"field": "base", "code": "invalid"}]}, {}  # fmt: skip
        if any(p["base"]["ref"] == data["base"] for p in self.open_prs(head)):
            message = f"A pull request already exists for {self.repository.split('/')[0]}:{head}."
            return 422, {"message": "Validation Failed", "errors": [{"message": message}]}, {}
        pr = self._pr(data["title"], head, data["base"], self.repository, login,
                      str(data.get("body") or ""))  # fmt: skip
        return 201, pr, {}

    def _edit_pull(self, pr: dict, data: dict):
        unknown = set(data) - {"title", "body", "base", "state", "maintainer_can_modify"}
        if unknown:
            return 422, {"message": "Validation Failed", "errors": sorted(unknown)}, {}
        if "base" in data and not self._branch_exists(data["base"]):
            return 422, {"message": "Validation Failed", "errors": [{"field": "base"}]}, {}
        for key in ("title", "body", "state"):
            if key in data:
                pr[key] = data[key]
        if "base" in data:
            pr["base"]["ref"] = data["base"]
        pr["edits"] += 1
        return 200, pr, {}

    def _write_comment(self, found: dict | None, data: dict, login: str, issue: int):
        text = data.get("body")
        if not isinstance(text, str) or not text:
            return 422, {"message": "Validation Failed", "errors": [{"field": "body"}]}, {}
        if len(text) > 65_536:
            return 422, {"message": "Body is too long (maximum is 65536 characters)"}, {}
        if found is not None:
            found["body"] = text
            found["updates"] += 1
            return 200, found, {}
        comment = {"id": 1000 + len(self.comments), "issue": issue, "body": text,
                   "user": {"login": login}, "updates": 0}  # fmt: skip
        self.comments.append(comment)
        return 201, comment, {}

    def add_comment(self, issue: int, login: str, body: str) -> dict:
        comment = {"id": 1000 + len(self.comments), "issue": issue, "body": body,
                   "user": {"login": login}, "updates": 0}  # fmt: skip
        self.comments.append(comment)
        return comment
