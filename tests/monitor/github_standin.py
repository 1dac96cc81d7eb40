"""A local stand-in for GitHub's `POST /repos/{owner}/{repo}/dispatches`, on 127.0.0.1.

It enforces the real endpoint's contract rather than accepting anything:
- 403 without a User-Agent header (GitHub refuses those);
- 401 without a token or with a wrong one ("Requires authentication" / "Bad credentials");
- 404 for another path or repository, 400 for a body that is not JSON;
- 422 when `event_type` is missing, not a string, empty or over 100 characters, when
  `client_payload` is not an object, has more than 10 top-level keys or is over 65,535
  characters;
- 204 with no body on success.
A failure mode answers `fail_status` (e.g. 502 or 429, with Retry-After) for the first N
requests, then behaves normally. Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int


@dataclass
class GitHubStandin:
    token: str = "ghp_standin0123456789abcdefghijklmnopqrst"
    repository: str = "acme/flights"
    fail_first: int = 0
    fail_status: int = 502
    retry_after: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, reply, extra = standin._answer(self.path, self.headers, body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                standin.requests.append(Recorded(self.path, headers, body, status))
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                data = b"" if reply is None else json.dumps(reply).encode()
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> GitHubStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(
        self, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        docs = {"documentation_url": "https://docs.github.com/rest/repos/repos"}
        if not headers.get("User-Agent"):
            return 403, {"message": "Request forbidden by administrative rules."}, {}
        auth = headers.get("Authorization", "")
        scheme, _, given = auth.partition(" ")
        if not auth:
            return 401, {"message": "Requires authentication", **docs}, {}
        if scheme.lower() not in {"bearer", "token"} or given != self.token:
            return 401, {"message": "Bad credentials", **docs}, {}
        if path != f"/repos/{self.repository}/dispatches":
            return 404, {"message": "Not Found", **docs}, {}
        failures = sum(1 for r in self.requests if r.status == self.fail_status)
        if failures < self.fail_first:
            extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return self.fail_status, {"message": "Server Error"}, extra
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 400, {"message": "Problems parsing JSON", **docs}, {}
        if not isinstance(data, dict):
            return 400, {"message": "Problems parsing JSON", **docs}, {}
        event_type = data.get("event_type")
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
            return 422, {"message": "Invalid request.\n\nFor 'properties/event_type'", **docs}, {}
        payload = data.get("client_payload", {})
        if not isinstance(payload, dict):
            return 422, {"message": "Invalid request.\n\nclient_payload is not an object"}, {}
        if len(payload) > 10:
            return 422, {"message": "No more than 10 properties are allowed in client_payload"}, {}
        if len(json.dumps(payload)) > 65_535:
            return 422, {"message": "client_payload is too large (maximum 65535 characters)"}, {}
        self.accepted.append(data)
        return 204, None, {}
