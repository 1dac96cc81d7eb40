"""The files one part writes for another, as typed frozen models: ONE home per contract.

Every JSON file a stage or command leaves for another part is a model here, used by its writer
(`Model(...).write(path)`) and by every reader (`Model.read(path, hint)`), so a field is named,
typed and defaulted once. A missing value is `None` in the model and `null` on disk, never a
sentinel string. Each model carries `schema` (its version); a reader refuses another version
with a message naming the file and the stage to re-run. `docs/contracts.md` lists the same
fields; `tests/test_artifacts.py` fails when the two disagree.

Registry version tags are strings by MLflow's rules: `VersionTags` converts to and from them,
and an absent value is an absent tag.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from retrain import fileio
from retrain.errors import UserError
from retrain.monitor.payload import DispatchEvent

MetricValues = dict[str, float | None]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class Artifact(_Frozen):
    """A versioned JSON contract: `write` atomically, `read`/`parse` with a UserError."""

    SCHEMA: ClassVar[int] = 1
    WHAT: ClassVar[str] = "file"  # how messages name it
    schema_version: int = Field(1, alias="schema")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        return fileio.dump_json(self.to_dict())

    def write(self, path: Path) -> None:
        fileio.write_text(path, self.to_json())

    @classmethod
    def from_data(cls, data: Any, where: str, hint: str) -> Self:
        if not isinstance(data, dict):
            raise UserError(
                f"{where} is not a schema-{cls.SCHEMA} {cls.WHAT} (not an object)", hint
            )
        if data.get("schema") != cls.SCHEMA:
            raise UserError(
                f"{where} is not a schema-{cls.SCHEMA} {cls.WHAT} "
                f"(unknown schema {data.get('schema')!r})",
                hint,
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"{where} is not a valid {cls.WHAT}: {_problems(exc)}", hint) from None

    @classmethod
    def parse(cls, text: str, where: str, hint: str) -> Self:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise UserError(f"{where} is not valid JSON: {exc}", hint) from None
        return cls.from_data(data, where, hint)

    @classmethod
    def read(cls, path: Path, hint: str) -> Self:
        return cls.from_data(fileio.read_json(path, cls.WHAT, hint), f"{cls.WHAT} {path}", hint)


# -- validate --------------------------------------------------------------------------------


class ValidationCheck(_Frozen):
    expectation: str
    column: str | None
    success: StrictBool
    observed: Any = None
    expected: Any = None
    description: str = ""


class ValidationResult(Artifact):
    """`build/validation/result.json`: the GX suite's outcome; prepare runs only on success."""

    WHAT: ClassVar[str] = "validation result"
    success: StrictBool
    n_rows: int | None = None
    n_checks: int
    n_failed: int
    checks: list[ValidationCheck]


# -- train -----------------------------------------------------------------------------------


class EnsembleMember(_Frozen):
    trial: int
    family: str
    params: dict[str, Any]
    cv_score: float | None


class EnsembleInfo(_Frozen):
    members: list[EnsembleMember]
    best_single_cv_score: float | None


class RefitInfo(_Frozen):
    """How the refit was fitted into `train.budget.seconds` (retrain.search.budget)."""

    members: list[int]  # trials refit (one: a single model)
    dropped_members: list[int] = []  # ensemble members left out so the refit fits
    rows: int  # most recent train rows refit on (the whole window unless reason fewer_rows)
    reason: Literal["fits", "fewer_members", "fewer_rows", "over_budget"]
    available_s: float  # stage budget left when the refit started
    estimate_s: float  # estimated from the trials' fold fit times, scaled by rows
    actual_s: float  # measured (= refit_s)


class SearchSummary(Artifact):
    """`build/train/search.json`: what the search found and what the artifact is."""

    WHAT: ClassVar[str] = "search result"
    task: Literal["classification", "multiclass", "regression"]
    primary_metric: str
    greater_is_better: StrictBool
    best_family: str
    best_params: dict[str, Any]
    best_trial: int
    model: Literal["single", "ensemble"] = "single"
    ensemble: EnsembleInfo | None = None
    cv_score: float | None
    cv_fold_scores: list[float] = []
    cv_folds: list[str] = []
    threshold: float | None = None  # classification: F1-optimal on out-of-fold predictions
    n_trials: int
    n_pruned: int
    n_trials_this_worker: int
    stopped_by: str
    search_s: float
    refit_s: float
    elapsed_s: float
    budget_s: float | None = None  # train.budget.seconds: bounds elapsed_s, refit included
    refit: RefitInfo | None = None
    study_name: str
    mlflow_run_id: str | None = None
    train_start: str | None = None
    train_end: str | None = None
    n_train: int


class LeaderboardRow(_Frozen):
    rank: int
    number: int
    family: str
    params: dict[str, Any]
    cv_score: float | None
    fold_scores: list[float] = []
    fit_time_s: float
    state: str


class Leaderboard(Artifact):
    """`build/train/leaderboard.json`: the top trials, complete ones first."""

    WHAT: ClassVar[str] = "leaderboard"
    primary_metric: str
    greater_is_better: StrictBool
    trials: list[LeaderboardRow]


# -- champion and gate ------------------------------------------------------------------------


class ChampionInfo(Artifact):
    """`build/champion/champion.json`: who the registry's champion is (None: no champion)."""

    WHAT: ClassVar[str] = "champion file"
    model: str
    version: str | None = None
    sha256: str | None = None
    # How the champion's train/test split was made (its version tags; None: not recorded), so
    # the gate can keep the champion's training rows out of its holdout.
    split: Literal["time", "hash"] | None = None
    test_size: float | None = None
    train_end: str | None = None
    # The metrics the champion was registered with (its `metric.*` version tags): the gate's
    # suspicion bound counts a gain from the better of these and its score on the new window.
    registered: dict[str, float] = {}


class GateCheck(_Frozen):
    name: str
    passed: StrictBool
    value: float | None
    threshold: float | None
    detail: str
    # bootstrap checks
    ci: list[float] | None = None
    resamples: int | None = None
    # slice checks: level -> {"n", "candidate", "champion", "improvement"}
    levels: dict[str, dict[str, float | int | None]] | None = None
    # leakage screen: the strongest features alone -> univariate score (AUC or |Spearman|)
    features: dict[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        return {k: v for k, v in data.items() if v is not None or k in _CHECK_CORE}


_CHECK_CORE = ("name", "passed", "value", "threshold", "detail")


class OverrideRecord(_Frozen):
    """`gate.suspicion.override` as the gate saw it: `applied` only when it names this
    candidate's sha256 and a suspicion check tripped."""

    candidate_sha256: str
    reason: str
    applied: StrictBool


class TestWindow(_Frozen):
    n: int
    start: str | None = None
    end: str | None = None


class GateVerdict(Artifact):
    """`metrics/gate.json`: blessed or not, and every check with its numbers."""

    WHAT: ClassVar[str] = "gate result"
    blessed: StrictBool
    checks_passed: StrictBool
    mode: Literal["enforce", "dry_run"]
    first_model: StrictBool
    champion_version: str | None = Field(pattern=r"^\d+$")  # MLflow's digits
    candidate: MetricValues
    champion: MetricValues | None
    checks: list[GateCheck]
    summary: str
    model: str | None = None
    candidate_sha256: str | None = None
    champion_sha256: str | None = None
    test_window: TestWindow | None = None
    # "suspiciously good — check for leakage": a `suspicion.*` check failed (never blessed
    # unless `override.applied`); the features the leakage screen flagged
    suspicious: StrictBool = False
    leaking_features: list[str] = []
    override: OverrideRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["checks"] = [c.to_dict() for c in self.checks]
        return data

    @property
    def failed_checks(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]


# -- push and promote ------------------------------------------------------------------------


class RegistryRecord(Artifact):
    """`registry.json` (committed to git): merging it promotes `version`; a record that
    `withdraws` a version (a reverted first model) asks promote to remove the champion."""

    WHAT: ClassVar[str] = "registry record"
    model: str = Field(min_length=1)
    version: str | None = Field(None, pattern=r"^\d+$")
    model_uri: str | None = None
    sha256: str | None = None
    baseline_version: str | None = None
    run_id: str | None = None
    blessed: StrictBool
    withdraws: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.withdraws is None:
            data.pop("withdraws")
        return data

    @classmethod
    def from_data(cls, data: Any, where: str, hint: str) -> Self:
        if isinstance(data, dict) and data.get("schema") == cls.SCHEMA:
            for key in ("model", "version", "sha256", "baseline_version", "blessed"):
                if key not in data:
                    raise UserError(f"{where} lacks '{key}'", hint)
            if not isinstance(data["model"], str) or not data["model"]:
                raise UserError(f"{where}: 'model' must be a non-empty string", hint)
            version = data["version"]
            if version is not None and not str(version).isdigit():
                raise UserError(f"{where}: 'version' must be a version number or null", hint)
            if version is not None and not data.get("sha256"):
                raise UserError(f"{where} names version {version} without its sha256", hint)
            data = {**data, "version": None if version is None else str(version)}
            if data.get("baseline_version") is not None:
                data["baseline_version"] = str(data["baseline_version"])
        return super().from_data(data, where, hint)


class VersionTags(_Frozen):
    """The tags `push` puts on a registered version: where it came from and how it was gated.
    Absent values are absent tags (MLflow tags are strings; no sentinel)."""

    git_commit: str | None = None
    data_hash: str | None = None
    params_hash: str | None = None
    run_id: str | None = None
    sha256: str
    baseline_version: str | None = None
    train_start: str | None = None
    train_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    primary_metric: str | None = None
    # The split the version was trained under: "time" (train_end bounds its rows) or "hash"
    # (rows whose identity hashes below test_size were held out; docs/contracts.md).
    split: Literal["time", "hash"] | None = None
    test_size: float | None = None
    gate_mode: str | None = None
    gate_checks_passed: StrictBool | None = None
    first_model: StrictBool | None = None
    metrics: MetricValues = {}

    def to_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for name, value in self.model_dump(exclude={"metrics"}).items():
            if value is None or value == "":
                continue
            tags[name] = str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in self.metrics.items():
            if value is not None:
                tags[f"metric.{name}"] = f"{float(value):.6g}"
        return tags

    def known_metrics(self) -> dict[str, float]:
        """The metrics registered with a value (undefined ones left out)."""
        return {name: value for name, value in self.metrics.items() if value is not None}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> VersionTags:
        fields = {}
        metrics: dict[str, float | None] = {}
        for key, value in tags.items():
            # versions registered before the sentinel fixes may carry "", "None" or "none"
            if value in ("", "None") or (key == "baseline_version" and value == "none"):
                continue
            if key.startswith("metric."):
                try:
                    metrics[key.removeprefix("metric.")] = float(value)
                except ValueError:
                    metrics[key.removeprefix("metric.")] = None
            elif key in cls.model_fields and key != "metrics":
                fields[key] = value
        for flag in ("gate_checks_passed", "first_model"):
            if flag in fields:
                fields[flag] = fields[flag] == "true"
        fields.setdefault("sha256", "")
        return cls.model_validate({**fields, "metrics": metrics})


# -- monitor ---------------------------------------------------------------------------------


class WindowSignal(_Frozen):
    window: str  # "START..END": the window's calendar days, half-open
    signal: StrictBool  # drift, prediction drift or decay at the trigger's thresholds


class MonitorWindow(_Frozen):
    window: str  # label people read, e.g. "2013-02-01..2013-03-01 (America/New_York)"
    n_rows: int


class DriftStatistics(_Frozen):
    numeric: str
    categorical: str
    prediction: str
    bins: int


class FeatureDriftEntry(_Frozen):
    feature: str
    kind: Literal["numeric", "categorical"]
    statistic: str
    score: float | None  # None: undefined (JSON has no NaN/inf)
    p_value: float | None  # None: an effect size without a test (PSI, Jensen-Shannon)
    threshold: float
    drifted: StrictBool
    missing_reference: float
    missing_current: float


class PredictionDrift(_Frozen):
    statistic: str
    score: float | None
    p_value: float | None
    threshold: float
    drifted: StrictBool


class PerformanceCheck(_Frozen):
    metric: str
    greater_is_better: StrictBool
    registered: float
    current: float
    n_labelled: int
    decay: float  # how much worse than registered (positive = worse), whatever the direction


class DriftSignals(_Frozen):
    drift: StrictBool
    prediction_drift: StrictBool
    decay: StrictBool


class DriftTrigger(_Frozen):
    drift_share: float
    decay: float | None  # the decay trigger in the metric's units (None: nothing to measure)
    persistence: int
    consecutive: int
    # the current window and the ones before it the run checked, oldest first (persistence)
    windows: list[WindowSignal] = []


class PolicyDecision(_Frozen):
    """A retrain policy's decision (`retrain.policies`): fired or not, and on what evidence."""

    policy: str
    fired: StrictBool
    # true: the evidence is an estimate made without labels (CBPE / direct-loss estimation)
    estimated: StrictBool = False
    # the repository_dispatch event a firing sends (None when it does not fire)
    event_type: Literal["drift-detected", "performance-degraded", "data-updated"] | None = None
    score: float = 0.0
    reason: str
    evidence: dict[str, float | int | bool | str | None] = {}


class DriftResult(Artifact):
    """`build/monitor/drift.json`: the monitor's drift and decay check, and its decision.

    `dispatch` is the repository_dispatch event to send when the action is "retrain"."""

    WHAT: ClassVar[str] = "drift report"
    model: str
    champion_version: str | None
    reference: MonitorWindow
    current: MonitorWindow
    statistics: DriftStatistics
    features: list[FeatureDriftEntry]
    n_features: int
    n_drifted: int
    drift_share: float
    prediction: PredictionDrift | None
    performance: PerformanceCheck | None
    signals: DriftSignals
    trigger: DriftTrigger
    action: Literal["retrain", "none"]
    reason: str
    dispatch: DispatchEvent | None
    # the policy that decided (policy.monitor); `action`/`reason`/`dispatch` are its decision
    policy: PolicyDecision | None = None


# -- cost ------------------------------------------------------------------------------------


class StageCost(Artifact):
    """`metrics/cost/<stage>.json`: what one run of a stage cost, as the OS measured it.

    Wall time from the process's start (interpreter start-up included); CPU seconds are user +
    system time of the process and of the child processes it waited for; peak RSS is the larger
    of the process's and its largest child's."""

    WHAT: ClassVar[str] = "stage cost record"
    stage: str
    wall_s: float
    cpu_s: float
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_mb: float
    price_per_cpu_hour: float
    usd: float
    budget_cpu_s: float | None = None


# -- documentation ---------------------------------------------------------------------------
# docs/contracts.md carries this table between the markers below; tests/test_artifacts.py fails
# when it is stale. Regenerate: `uv run python -m retrain.artifacts --write docs/contracts.md`.

DOC_BEGIN = "<!-- artifacts:begin (generated from src/retrain/artifacts.py) -->"
DOC_END = "<!-- artifacts:end -->"


def _type_name(annotation: Any) -> str:
    """A readable, stable name for a field's type (no module paths, no validator objects)."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    if annotation is StrictBool:
        return "bool"
    return getattr(annotation, "__name__", str(annotation))


def _fields_table(model: type[BaseModel]) -> list[str]:
    rows = ["| field | type | default |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        default = (
            "required"
            if info.is_required()
            else f"`{json.dumps(info.get_default(call_default_factory=True), default=str)}`"
        )
        rows.append(f"| `{key}` | `{_type_name(info.annotation)}` | {default} |")
    return rows


def contracts_markdown() -> str:
    """The fields of every contract and of the records nested in them, as markdown."""
    seen: list[type[BaseModel]] = []

    def collect(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for info in model.model_fields.values():
            for candidate in _nested_models(info.annotation):
                collect(candidate)

    roots = [m for m in _Frozen.__subclasses__() if m is not Artifact] + Artifact.__subclasses__()
    for model in sorted(roots, key=lambda m: (not issubclass(m, Artifact), m.__name__)):
        collect(model)
    lines = [DOC_BEGIN, ""]
    for model in seen:
        what = f" — {model.WHAT}, schema {model.SCHEMA}" if issubclass(model, Artifact) else ""
        doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
        lines += [f"#### `{model.__name__}`{what}", ""]
        if doc:
            lines += [doc, ""]
        lines += [*_fields_table(model), ""]
    return "\n".join([*lines, DOC_END])


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _nested_models(arg)
    return found


def write_docs(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END)
    fileio.write_text(path, text[:start] + contracts_markdown() + text[end:])


if __name__ == "__main__":
    import sys

    from retrain import artifacts  # the imported module, so names are not `__main__.`

    if sys.argv[1:2] == ["--write"]:
        artifacts.write_docs(Path(sys.argv[2]))
    else:
        print(artifacts.contracts_markdown())
