"""Read one registry alias without importing mlflow: one sqlite query or one REST call.

`import mlflow` costs seconds, and the champion stage runs on every `dvc repro` (the champion
may have moved), so a no-op repro paid it every time. Reading where an alias points is one
query of MLflow's own schema (sqlite store) or one call of its documented REST API (`mlflow
server`); both give exactly what `MlflowClient.get_model_version_by_alias` gives.

Where exactness cannot be promised (another backend, workspaces, custom TLS or auth plugins,
an unexpected schema, a server error) `read_alias` raises `QueryUnsupported` and the caller
uses the MLflow client, which also owns the error messages for an unreachable service.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# Settings the fast path does not implement: with any of them set, MLflow's client decides.
_CLIENT_ONLY_ENV = (
    "MLFLOW_ENABLE_WORKSPACES",
    "MLFLOW_WORKSPACE",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_TRACKING_CLIENT_CERT_PATH",
    "MLFLOW_TRACKING_AUTH",
    "MLFLOW_TRACKING_AWS_SIGV4",
)
_DELETED_STAGE = "Deleted_Internal"  # MLflow's soft-deleted versions: invisible to clients
_DEFAULT_WORKSPACE = "default"


class QueryUnsupported(Exception):
    """The fast path cannot answer exactly here; ask the MLflow client instead."""


def read_alias(uri: str, model: str, alias: str) -> tuple[str, dict[str, str]] | None:
    """(version, tags) of `model@alias`, or None when there is no such alias or model."""
    if any(os.environ.get(name) for name in _CLIENT_ONLY_ENV):
        raise QueryUnsupported("MLflow client settings in the environment")
    if uri.startswith("sqlite:///") and "?" not in uri:
        return _read_alias_sqlite(Path(uri[len("sqlite:///") :]), model, alias)
    if uri.startswith(("http://", "https://")):
        return _read_alias_rest(uri, model, alias)
    raise QueryUnsupported(f"no fast path for {uri.split(':', 1)[0]} stores")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _read_alias_sqlite(path: Path, model: str, alias: str) -> tuple[str, dict[str, str]] | None:
    if not path.exists():
        return None  # MLflow would create an empty store: no model, no alias
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise QueryUnsupported(str(exc)) from None
    try:
        needed = {
            "registered_model_aliases": {"alias", "version", "name", "workspace"},
            "model_versions": {"name", "version", "current_stage", "workspace"},
            "model_version_tags": {"key", "value", "name", "version", "workspace"},
        }
        for table, columns in needed.items():
            if not columns <= _columns(db, table):
                raise QueryUnsupported(f"unexpected MLflow schema in {path} ({table})")
        row = db.execute(
            "SELECT v.version FROM registered_model_aliases a JOIN model_versions v"
            " ON v.workspace = a.workspace AND v.name = a.name AND v.version = a.version"
            " WHERE a.workspace = ? AND a.name = ? AND a.alias = ? AND v.current_stage != ?",
            (_DEFAULT_WORKSPACE, model, alias, _DELETED_STAGE),
        ).fetchone()
        if row is None:
            return None
        version = str(row[0])
        tags = dict(
            db.execute(
                'SELECT "key", value FROM model_version_tags'
                " WHERE workspace = ? AND name = ? AND version = ?",
                (_DEFAULT_WORKSPACE, model, int(version)),
            ).fetchall()
        )
    except sqlite3.Error as exc:
        raise QueryUnsupported(str(exc)) from None
    finally:
        db.close()
    return version, {str(k): str(v) for k, v in tags.items()}


def _read_alias_rest(uri: str, model: str, alias: str) -> tuple[str, dict[str, str]] | None:
    query = urllib.parse.urlencode({"name": model, "alias": alias})
    request = urllib.request.Request(
        f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}"
    )
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    elif user:
        secret = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        request.add_header("Authorization", f"Basic {base64.b64encode(secret).decode()}")
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "10"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            code = json.load(exc).get("error_code")
        except (ValueError, AttributeError):
            code = None
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise QueryUnsupported(f"HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise QueryUnsupported(str(exc)) from None
    version = body.get("model_version") if isinstance(body, dict) else None
    if not isinstance(version, dict) or "version" not in version:
        raise QueryUnsupported("unexpected REST response")
    tags = {str(t["key"]): str(t.get("value", "")) for t in version.get("tags") or []}
    return str(version["version"]), tags
