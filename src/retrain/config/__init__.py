"""`params.yaml`, read in exactly one place into frozen, typed settings.

Each section of params.yaml has its own model in this package (one file per stage or
concern); `load_params` is the only function that reads the file. Unknown or mistyped keys
fail with a message naming the key, its section and the allowed keys.

Every default lives once, in the section models; the bundled params.yaml repeats them for
readers and overrides only the flights-specific ones (tests/config/test_defaults.py keeps the
two in step). `base.timezone` is the one time zone: the windows and the train/replay calendars
(`TIMEZONE_INHERITORS`) take it unless they set their own `timezone`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from retrain.config.base import DEFAULT_TIMEZONE, BaseSection, Section, check_timezone
from retrain.config.cost import CostSection
from retrain.config.dispatch import DispatchSection
from retrain.config.evaluate import EvaluateSection
from retrain.config.export import ExportSection
from retrain.config.extract import ExtractSection
from retrain.config.gate import GateSection
from retrain.config.monitor import MonitorSection
from retrain.config.policy import PolicySection
from retrain.config.prepare import PrepareSection
from retrain.config.registry import RegistrySection
from retrain.config.replay import ReplaySection
from retrain.config.safeyaml import MAX_BYTES, load_yaml
from retrain.config.train import TrainSection
from retrain.config.validate import ValidateSection
from retrain.errors import UserError

__all__ = ["TIMEZONE_INHERITORS", "Params", "Section", "load_params", "params_hash", "parse_params"]

DEFAULT_PATH = Path("params.yaml")

# Settings whose `timezone` defaults to base.timezone (a window, or a section's own calendar).
TIMEZONE_INHERITORS: tuple[tuple[str, ...], ...] = (
    ("extract", "window"),
    ("prepare", "train_window"),
    ("prepare", "test_window"),
    ("monitor", "current"),
    ("train",),
    ("replay",),
)


class Params(Section):
    base: BaseSection = BaseSection()
    extract: ExtractSection = ExtractSection()
    # `validate` would shadow BaseModel.validate; the YAML key stays `validate`.
    validate_: ValidateSection = Field(ValidateSection(), alias="validate")
    prepare: PrepareSection = PrepareSection()
    train: TrainSection = TrainSection()
    evaluate: EvaluateSection = EvaluateSection()
    gate: GateSection = GateSection()
    export: ExportSection = ExportSection()
    registry: RegistrySection = RegistrySection()
    monitor: MonitorSection = MonitorSection()
    policy: PolicySection = PolicySection()
    dispatch: DispatchSection = DispatchSection()
    replay: ReplaySection = ReplaySection()
    cost: CostSection = CostSection()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _inherit_timezone(cls, data: Any) -> Any:
        """Give every TIMEZONE_INHERITORS entry without its own `timezone` base.timezone.

        Done on the raw mapping, before validation, so each window's own checks (start before
        end, train before test) already see the zone it will be read in.
        """
        if not isinstance(data, dict):
            return data
        base = data.get("base")
        if isinstance(base, BaseModel):
            zone = getattr(base, "timezone", DEFAULT_TIMEZONE)
        elif isinstance(base, dict):
            zone = base.get("timezone", DEFAULT_TIMEZONE)
        else:
            zone = DEFAULT_TIMEZONE
        try:
            check_timezone(zone)
        except (TypeError, ValueError):
            return data  # base.timezone itself fails validation, with its own message
        for path in TIMEZONE_INHERITORS:
            data = _with_timezone(data, cls, path, zone)
        return data

    @model_validator(mode="after")
    def _metrics_of_the_task(self) -> Params:
        """Every metric the gate names is one of base.task's (train.metric is per task)."""
        from retrain.metrics import metric_names

        task = self.base.task
        allowed = metric_names(task)
        named = [(f"gate.values.{m}", m) for m in self.gate.values]
        named += [(f"gate.changes[{i}].metric", c.metric) for i, c in enumerate(self.gate.changes)]
        if self.gate.slices.columns:
            named.append(("gate.slices.metric", self.gate.slices.metric))
        wrong = [f"{key}: {metric!r}" for key, metric in named if metric not in allowed]
        if wrong:
            raise ValueError(
                f"metric(s) not defined for base.task {task!r}: {'; '.join(wrong)}; "
                f"use one of {', '.join(allowed)}"
            )
        return self


def _with_timezone(raw: Any, model: type[BaseModel], path: tuple[str, ...], zone: str) -> Any:
    """`raw` (input for `model`) with `timezone: zone` at the end of `path` unless set there."""
    if isinstance(raw, BaseModel):  # a section built in code: re-validated from what it set
        raw = raw.model_dump(exclude_unset=True)
    if not isinstance(raw, dict):
        return raw  # null or a wrong type: validation reports it as given
    if not path:
        return raw if "timezone" in raw else {**raw, "timezone": zone}
    name, rest = path[0], path[1:]
    field = model.model_fields[name]
    child = raw.get(name, field.get_default(call_default_factory=True))
    return {**raw, name: _with_timezone(child, field.annotation, rest, zone)}  # type: ignore[arg-type]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk a pydantic model class along an error location; None when it leaves models."""
    current: Any = model
    skip_next = False  # the previous field was dict[str, Model]: this part is a user key
    for part in loc:
        if skip_next or isinstance(part, int):
            skip_next = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get("validate_" if part == "validate" else part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
        if get_origin(current) in (dict, list, tuple):
            skip_next = get_origin(current) is dict
            current = _unwrap(get_args(current)[-1])
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None / Union[...]: the model member if there is one."""
    if get_origin(annotation) in (dict, list, tuple) or get_origin(annotation) is None:
        return annotation
    args = get_args(annotation)
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    if models:
        return models[0]
    containers = [a for a in args if get_origin(a) in (dict, list, tuple)]
    return containers[0] if containers else annotation


# Pydantic error types that mean "expected text (or a name), got something else".
_NOT_A_BOOL = {"string_type", "literal_error", "enum", "dict_type", "list_type"}


def _describe(err: dict[str, Any]) -> str:
    loc = tuple("validate" if p == "validate_" else p for p in err["loc"])
    dotted = ".".join(str(p) for p in loc)
    section = ".".join(str(p) for p in loc[:-1]) or "(top level)"
    if err["type"] == "invalid_key" and isinstance(err.get("input"), bool):
        return (
            f"key {err['input']!r} in section '{section}': YAML reads unquoted "
            "yes/no/on/off/true/false as booleans; quote the key (e.g. 'on') if you meant text"
        )
    if err["type"] == "extra_forbidden":
        parent = _model_at(Params, loc[:-1])
        names = [
            f.replace("validate_", "validate") for f in (parent.model_fields if parent else {})
        ]
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        allowed = ", ".join(names) or "?"
        return f"unknown key '{loc[-1]}' in section '{section}'{guess}; allowed keys: {allowed}"
    if not loc:  # a check across sections: its message names the keys itself
        return str(err["msg"]).removeprefix("Value error, ")
    text = f"'{dotted}': {err['msg']} (got {err.get('input')!r})"
    if isinstance(err.get("input"), bool) and err["type"] in _NOT_A_BOOL:
        text += (
            "; YAML reads unquoted yes/no/on/off/true/false as booleans: quote the value "
            "(e.g. 'no') if you meant text"
        )
    return text


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(
            f"{source}: expected a mapping of sections, got {type(raw).__name__}",
            "start the file with section names such as `base:` and `train:`",
        )
    try:
        return Params(**raw)
    except ValidationError as exc:
        problems = "\n  - ".join(_describe(e) for e in exc.errors())
        raise UserError(
            f"{source} is invalid:\n  - {problems}",
            "correct the keys above; see README 'params.yaml reference'",
        ) from None


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate params.yaml. The only reader of that file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"params file not found: {path}", "run from the project root or pass --params"
        )
    size = path.stat().st_size
    if size > MAX_BYTES:  # before reading a byte of it
        raise UserError(
            f"{path} is {size:,} bytes; a params file may have at most {MAX_BYTES:,}",
            "check that --params names params.yaml and not a data file",
        )
    with path.open("rb") as fh:
        data = fh.read(MAX_BYTES + 1)  # a file growing meanwhile is still refused by size
    return parse_params(load_yaml(data, str(path)), str(path))


def params_hash(params: Params) -> str:
    """sha256 of the canonical JSON of the validated params (defaults included)."""
    blob = json.dumps(params.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
