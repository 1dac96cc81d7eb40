"""The MLflow model registry as one service object: versions, tags, aliases, audit, artifacts.

`Registry` is the interface the rest of the code depends on; `MlflowRegistry` implements it over
an MLflow tracking/registry store, and `connect()` is the one place that builds it (from
`MLFLOW_TRACKING_URI`, else the project's sqlite store). Every stage and command that talks to
the registry goes through it, so the failure
modes are handled once: an unreachable store raises `ServiceUnavailable` (exit 3) within
seconds, a missing version is a `UserError`, and a pipeline is only ever loaded after its
artifact's sha256 matched the version's `sha256` tag (recorded at push time, outside the
artifact) and only with the repository's type allow-list.

Aliases (no deprecated stages): `challenger` = blessed, awaiting review; `champion` =
production; `previous` = the champion before the last promotion.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from retrain.errors import ServiceUnavailable, UserError

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
AUDIT_PREFIX = "audit."
# Where the skops Pipeline sits inside an exported MLflow model directory (pyfunc artifacts).
SKOPS_IN_MODEL_DIR = "artifacts/model.skops"
SHA256_IN_MODEL_DIR = "artifacts/sha256.txt"
NO_VERSION = "none"  # how messages and the audit trail spell "no version"


@dataclass(frozen=True)
class ModelRef:
    """One registered model version, as the rest of the code sees it."""

    model: str
    version: str
    sha256: str | None
    tags: dict[str, str] = field(default_factory=dict)
    uri: str = ""

    @property
    def number(self) -> int:
        return int(self.version)


def _ref(mv: Any) -> ModelRef:
    tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
    return ModelRef(
        model=mv.name,
        version=str(mv.version),
        sha256=tags.get("sha256"),
        tags=tags,
        uri=f"models:/{mv.name}/{mv.version}",
    )


def _error_code(exc: Exception) -> str | None:
    return getattr(exc, "error_code", None)


def _is_unreachable(exc: Exception) -> bool:
    """Connection-level failures (as opposed to 'not found' or 'bad request')."""
    import requests

    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return True
    text = str(exc)
    markers = (
        "failed with exception",
        "Max retries exceeded",
        "Connection refused",
        "unable to open database file",
        "OperationalError",
    )
    return any(m in text for m in markers)


def utc_stamp(now: datetime | None = None) -> str:
    # Sortable and a valid MLflow tag key (no colons), microseconds so two records never collide.
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


def exported_sha256(export_dir: Path) -> str:
    """sha256 of the exported skops file, checked against the export's own sha256.txt."""
    from retrain.model_io import sha256_file

    skops = export_dir / SKOPS_IN_MODEL_DIR
    recorded = export_dir / SHA256_IN_MODEL_DIR
    if not (export_dir / "MLmodel").is_file() or not skops.is_file() or not recorded.is_file():
        raise UserError(
            f"{export_dir} is not a model directory written by `retrain export`",
            "run the export stage (dvc repro export)",
        )
    actual = sha256_file(skops)
    expected = recorded.read_text(encoding="utf-8").split()[0] if recorded.stat().st_size else ""
    if actual != expected:
        raise UserError(
            f"{skops} has sha256 {actual[:12]}…, but the export recorded {expected[:12]}…",
            "re-run the export stage; never edit exported models by hand",
        )
    return actual


class Registry(Protocol):
    """What the project needs of a model registry (versions, tags, aliases, audit, artifacts).
    A new backend implements these methods; `connect()` builds the configured one."""

    uri: str

    def alias(self, model: str, alias: str) -> ModelRef | None: ...
    def champion(self, model: str) -> ModelRef | None: ...
    def version(self, model: str, version: str | int) -> ModelRef: ...
    def find(self, model: str, tags: dict[str, str]) -> list[ModelRef]: ...
    def model_tags(self, model: str) -> dict[str, str]: ...
    def audit(self, model: str) -> list[dict[str, Any]]: ...
    def download_skops(self, ref: ModelRef, dst: Path) -> Path: ...
    def load_pipeline(self, ref: ModelRef) -> Any: ...
    def register(
        self, model: str, model_dir: Path, tags: dict[str, str], experiment: str = "registry"
    ) -> tuple[ModelRef, bool]: ...
    def set_alias(self, model: str, alias: str, version: str) -> None: ...
    def delete_alias(self, model: str, alias: str) -> None: ...
    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None: ...
    def add_audit(self, model: str, record: dict[str, Any], now: datetime | None = None) -> str: ...


def connect(tracking_uri: str | None = None) -> Registry:
    """The project's registry: `tracking_uri`, else $MLFLOW_TRACKING_URI, else the local
    sqlite store (see `retrain.tracking`)."""
    return MlflowRegistry(tracking_uri)


class MlflowRegistry:
    """`Registry` over an MLflow tracking/registry store (sqlite file or `mlflow server`)."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        from retrain import logs, tracking

        logs.quiet_environment()
        self.uri = tracking_uri or tracking.tracking_uri()
        tracking.set_http_defaults()  # the REST fast path (registry_query) reads them too
        self._mlflow_client: Any = None

    @property
    def _client(self) -> Any:
        # Built on first use: reading an alias needs no mlflow (retrain.registry_query).
        if self._mlflow_client is None:
            from retrain import tracking

            tracking.prepare_client(self.uri)
            from mlflow.tracking import MlflowClient

            self._mlflow_client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._mlflow_client

    # -- error handling ---------------------------------------------------------------------

    @contextmanager
    def _service(self, action: str) -> Iterator[None]:
        try:
            yield
        except (UserError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                cause = self._redact(str(exc).splitlines()[0][:300])
                raise ServiceUnavailable(
                    f"model registry at {self._display_uri()} is unreachable while trying to "
                    f"{action}: {cause}",
                    "start the tracking server or fix MLFLOW_TRACKING_URI, then re-run; "
                    "nothing was changed",
                ) from None
            raise

    def _redact(self, text: str) -> str:
        # Never print credentials embedded in the URI.
        from urllib.parse import urlsplit

        password = urlsplit(self.uri).password
        return text.replace(password, "***") if password else text

    def _display_uri(self) -> str:
        return self._redact(self.uri)

    @staticmethod
    def _not_found(exc: Exception) -> bool:
        return _error_code(exc) == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()

    # -- reading ------------------------------------------------------------------------------

    def alias(self, model: str, alias: str) -> ModelRef | None:
        """The version `alias` points to, or None (no such alias or no such model)."""
        from retrain.registry_query import QueryUnsupported, read_alias

        try:
            found = read_alias(self.uri, model, alias)
        except QueryUnsupported:
            pass
        else:
            if found is None:
                return None
            version, tags = found
            return ModelRef(model, version, tags.get("sha256"), tags, f"models:/{model}/{version}")
        from mlflow.exceptions import MlflowException

        with self._service(f"read alias {model}@{alias}"):
            try:
                return _ref(self._client.get_model_version_by_alias(model, alias))
            except MlflowException as exc:
                if self._not_found(exc) or _error_code(exc) == "INVALID_PARAMETER_VALUE":
                    return None
                raise

    def champion(self, model: str) -> ModelRef | None:
        return self.alias(model, CHAMPION)

    def version(self, model: str, version: str | int) -> ModelRef:
        from mlflow.exceptions import MlflowException

        with self._service(f"read {model} version {version}"):
            try:
                return _ref(self._client.get_model_version(model, str(version)))
            except MlflowException as exc:
                if self._not_found(exc):
                    raise UserError(
                        f"model {model!r} has no version {version} in the registry at "
                        f"{self._display_uri()}",
                        "check MLFLOW_TRACKING_URI points at the registry that holds this model",
                    ) from None
                raise

    def find(self, model: str, tags: dict[str, str]) -> list[ModelRef]:
        """Versions of `model` carrying all of `tags`, oldest first."""
        clauses = [f"name = '{model}'"]
        for key, value in sorted(tags.items()):
            if "'" in value or "'" in key:
                raise UserError(f"tag {key}={value!r} contains a quote", "use plain tag values")
            clauses.append(f"tag.`{key}` = '{value}'")
        with self._service(f"search versions of {model}"):
            found = self._client.search_model_versions(" and ".join(clauses))
        return sorted((_ref(mv) for mv in found), key=lambda r: r.number)

    def model_tags(self, model: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        with self._service(f"read model {model}"):
            try:
                return dict(self._client.get_registered_model(model).tags or {})
            except MlflowException as exc:
                if self._not_found(exc):
                    return {}
                raise

    def audit(self, model: str) -> list[dict[str, Any]]:
        """The audit trail (oldest first): every promotion, rollback and forced override."""
        records = []
        for key, value in sorted(self.model_tags(model).items()):
            if key.startswith(AUDIT_PREFIX):
                record = json.loads(value)
                record["at"] = key[len(AUDIT_PREFIX) :]
                records.append(record)
        return records

    # -- artifacts ----------------------------------------------------------------------------

    def download_skops(self, ref: ModelRef, dst: Path) -> Path:
        """Download the version's skops file into `dst` and verify it against the sha256 tag."""
        import mlflow.artifacts

        from retrain.model_io import sha256_file

        if not ref.sha256:
            raise UserError(
                f"{ref.uri} has no sha256 tag, so its artifact cannot be verified",
                "register models with `retrain push`, which records the artifact's sha256",
            )
        with self._service(f"download {ref.uri}"):
            source = self._client.get_model_version_download_uri(ref.model, ref.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source.rstrip('/')}/{SKOPS_IN_MODEL_DIR}",
                dst_path=str(dst),
                tracking_uri=self.uri,  # this store, not the process-wide default
            )
        path = Path(local)
        actual = sha256_file(path)
        if actual != ref.sha256:
            raise UserError(
                f"artifact of {ref.uri} has sha256 {actual[:12]}…, but the registry recorded "
                f"{ref.sha256[:12]}… at push time: it was changed after registration",
                "do not use this version; re-run the pipeline to register a trusted model",
            )
        return path

    def load_pipeline(self, ref: ModelRef) -> Any:
        """The version's scikit-learn Pipeline: downloaded, sha256-verified, allow-list loaded."""
        from retrain.model_io import load_model

        with tempfile.TemporaryDirectory(prefix="retrain-registry-") as tmp:
            path = self.download_skops(ref, Path(tmp))
            return load_model(path, expected_sha256=ref.sha256)

    # -- writing ------------------------------------------------------------------------------

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        exp = self._client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        location = None
        if self.uri.startswith("sqlite:///"):
            # Artifacts next to the sqlite file, wherever the process runs from.
            location = (Path(self.uri[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
        try:
            return self._client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:  # created concurrently by another push
            # The other writer's row can take a moment to become visible (sqlite's busy
            # writer, a server behind a pool): look again briefly before giving up.
            for delay in (0.0, 0.2, 0.5, 1.0, 2.0):
                time.sleep(delay)
                exp = self._client.get_experiment_by_name(name)
                if exp is not None:
                    return exp.experiment_id
            raise exc from None

    def _ensure_model(self, model: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(model)
        except MlflowException as exc:
            if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise

    def register(
        self,
        model: str,
        model_dir: Path,
        tags: dict[str, str],
        experiment: str = "registry",
    ) -> tuple[ModelRef, bool]:
        """Register `model_dir` as a new version of `model` unless one with the same artifact
        (`sha256` tag) and the same baseline (`baseline_version` tag, absent for a first model)
        exists; returns (version, created).

        Concurrency: register-then-dedupe. Each pusher registers, then re-reads the versions
        with the same identity; the oldest wins and a newer duplicate is deleted by the process
        that created it. Works on any backend (no file lock, which a server could not share).
        """
        key = {"sha256": tags["sha256"]}
        baseline = tags.get("baseline_version")

        def same_identity() -> list[ModelRef]:
            found = self.find(model, key)
            return [r for r in found if r.tags.get("baseline_version") == baseline]

        existing = same_identity()
        if existing:
            return existing[0], False
        with self._service(f"register a version of {model}"):
            self._ensure_model(model)
            exp_id = self._experiment_id(experiment)
            run = self._client.create_run(
                exp_id,
                run_name=f"register-{tags.get('sha256', '')[:12]}",
                tags={f"retrain.{k}": v for k, v in tags.items() if not k.startswith("metric.")},
            )
            run_id = run.info.run_id
            try:
                self._client.log_artifacts(run_id, str(model_dir), "model")
            except Exception:
                self._client.set_terminated(run_id, "FAILED")
                raise
            self._client.set_terminated(run_id)
            mv = self._client.create_model_version(
                model,
                source=f"{run.info.artifact_uri.rstrip('/')}/model",
                run_id=run_id,
                tags=tags,
                await_creation_for=0,
            )
        same = same_identity()
        keeper = same[0] if same else _ref(mv)
        if keeper.version != str(mv.version):
            with self._service(f"remove duplicate {model} version {mv.version}"):
                self._client.delete_model_version(model, str(mv.version))
                self._client.delete_run(run_id)
            return keeper, False
        return keeper, True

    def set_alias(self, model: str, alias: str, version: str) -> None:
        with self._service(f"set alias {model}@{alias}"):
            self._client.set_registered_model_alias(model, alias, str(version))

    def delete_alias(self, model: str, alias: str) -> None:
        from mlflow.exceptions import MlflowException

        with self._service(f"delete alias {model}@{alias}"):
            try:
                self._client.delete_registered_model_alias(model, alias)
            except MlflowException as exc:
                if not self._not_found(exc):
                    raise

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        with self._service(f"tag {model} version {version}"):
            self._client.set_model_version_tag(model, str(version), key, value)

    def add_audit(self, model: str, record: dict[str, Any], now: datetime | None = None) -> str:
        """Append an audit record (model-level tag `audit.<UTC timestamp>`); returns its key."""
        key = f"{AUDIT_PREFIX}{utc_stamp(now)}"
        with self._service(f"write the audit record of {model}"):
            self._client.set_registered_model_tag(model, key, json.dumps(record, sort_keys=True))
        return key
