"""`retrain report`: the markdown a reviewer reads in the pull request (`retrain github` posts it).

Every input is optional but reported: a missing file shows "not available" in its section (a
first run has no champion, a scheduled run has no drift file), while a file that exists but is
malformed stops the command with an error naming the file, because a report that silently
drops half its evidence would mislead the reviewer. Payload strings are untrusted: they are
escaped before they enter the markdown so a crafted `reason` cannot inject links or HTML.
The run's outputs are read with their contract models (`retrain.artifacts`: gate verdict,
registry record, validation result, search summary, leaderboard), so a field is checked once,
by its model; the trigger and the drift report are shown as the JSON objects they are.

Core: `build_report(inputs) -> Report` (pure apart from the `dvc` diff and the plot images);
`cli(argv)` does the I/O: writes the markdown (and PNG plots beside it) atomically and, with
`--github-output`, the verdict for the workflow's next steps.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from retrain import fileio
from retrain.artifacts import (
    Artifact,
    GateVerdict,
    Leaderboard,
    RegistryRecord,
    SearchSummary,
    StageCost,
    ValidationCheck,
    ValidationResult,
)
from retrain.config.cost import PIPELINE_STAGES
from retrain.errors import UserError

log = logging.getLogger("retrain.report")

NOT_AVAILABLE = "_not available_"
# Longest untrusted string shown verbatim; payload fields are short by contract.
MAX_TEXT = 200
# Metrics files whose diff has more rows than this are folded into <details>.
FOLD_ROWS = 12
# GitHub refuses comments over 65,536 characters: past this, folded tables are dropped.
MAX_CHARS = 60_000


@dataclass(frozen=True)
class ReportInputs:
    """Where each piece of evidence lives; a path that does not exist is reported as missing."""

    out: Path
    trigger: Path | None = Path("build/trigger.json")
    validation: Path | None = Path("build/validation/result.json")
    gate: Path | None = Path("metrics/gate.json")
    registry: Path | None = Path("registry.json")
    search: Path | None = Path("build/train/search.json")
    leaderboard: Path | None = Path("build/train/leaderboard.json")
    drift: Path | None = None
    plots: Path | None = Path("plots")
    params: Path | None = Path("params.yaml")
    costs: Path | None = Path("metrics/cost")
    baseline_ref: str | None = None
    top: int = 5
    repo_root: Path = Path(".")


@dataclass
class Report:
    markdown: str
    blessed: bool
    model: str
    candidate_version: str | None  # registry versions: strings of digits
    champion_version: str | None
    title: str
    images: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- text helpers


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Untrusted value -> inert markdown text (no links, HTML, emphasis or table breaks)."""
    s = str(value).replace("\r", " ").replace("\n", " ")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", s)


def code(value: Any, limit: int = MAX_TEXT) -> str:
    """Inline code span for identifiers (hashes, names); backticks and pipes are neutralised."""
    s = str(value).replace("\r", " ").replace("\n", " ").replace("`", "'").replace("|", "¦")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return f"`{s}`"


def num(value: Any, digits: int = 4) -> str:
    """Compact number: thousands separators for ints, up to `digits` decimals for floats."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 10**-digits):
            return f"{value:.3g}"
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return text(value)


def signed(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "–"
    if value == 0:
        return "±0"
    return ("+" if value > 0 else "−") + num(abs(value))


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """GitHub table; `align` is one char per column: l, r or c."""
    align = align or "l" * len(headers)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


# --------------------------------------------------------------------------- input readers
# Contract files are read with their model; the trigger (shown field by field, untrusted) and
# the drift report (no model yet: TODO `DriftResult`) are read as plain JSON objects.

A = TypeVar("A", bound=Artifact)


def _hint(path: Path, stage: str) -> str:
    return f"re-run `{stage}` (or delete {path} to report it as missing); see docs/contracts.md"


def _read_json(path: Path | None, what: str, stage: str) -> tuple[Any, str] | None:
    """(parsed JSON, fix hint); None when absent; a UserError naming the file when unreadable."""
    if path is None or not path.exists():
        return None
    hint = _hint(path, stage)
    return fileio.read_json(path, what, hint), hint


def read_artifact(model: type[A], path: Path | None, what: str, stage: str) -> A | None:
    """The file as its contract `model`; None when absent (reported as not available)."""
    found = _read_json(path, what, stage)
    if found is None:
        return None
    data, hint = found
    return model.from_data(data, f"{what} {path}", hint)


def read_object(path: Path | None, what: str, stage: str) -> dict[str, Any] | None:
    """A JSON object without a contract model; its `schema`, when present, must be 1."""
    found = _read_json(path, what, stage)
    if found is None:
        return None
    data, hint = found
    if not isinstance(data, dict):
        raise UserError(f"{what} {path} is not a schema-1 {what} (not an object)", hint)
    if "schema" in data and data["schema"] != 1:
        raise UserError(
            f"{what} {path} is not a schema-1 {what} (unknown schema {data['schema']!r})", hint
        )
    return data


@dataclass(frozen=True)
class Evidence:
    """Every input of the report, read; None = the file is absent (shown as not available)."""

    trigger: dict[str, Any] | None = None
    validation: ValidationResult | None = None
    gate: GateVerdict | None = None
    registry: RegistryRecord | None = None
    search: SearchSummary | None = None
    board: Leaderboard | None = None
    drift: dict[str, Any] | None = None

    @property
    def primary_metric(self) -> str | None:
        """The metric the search optimised (the leaderboard's, else the search summary's)."""
        if self.board is not None:
            return self.board.primary_metric
        return self.search.primary_metric if self.search is not None else None

    @property
    def candidate_version(self) -> str | None:
        """The registered version of a blessed candidate (registry.json), else None."""
        if self.registry is None or not self.registry.blessed:
            return None
        return self.registry.version

    @property
    def champion_version(self) -> str | None:
        return self.gate.champion_version if self.gate is not None else None

    @property
    def blessed(self) -> bool:
        return self.gate is not None and self.gate.blessed


def read_evidence(inputs: ReportInputs) -> Evidence:
    trigger = read_object(inputs.trigger, "trigger payload", "retrain check-payload")
    validation = read_artifact(
        ValidationResult, inputs.validation, "validation result", "retrain validate"
    )
    gate = read_artifact(GateVerdict, inputs.gate, "gate verdict", "retrain gate")
    registry = read_artifact(RegistryRecord, inputs.registry, "registry file", "retrain push")
    search = read_artifact(SearchSummary, inputs.search, "search summary", "retrain train")
    board = read_artifact(Leaderboard, inputs.leaderboard, "search leaderboard", "retrain train")
    drift = read_object(inputs.drift, "drift report", "retrain monitor")
    if inputs.drift is not None and drift is None:
        log.info("drift report %s not found; reported as not available", inputs.drift)
    return Evidence(trigger, validation, gate, registry, search, board, drift)


# --------------------------------------------------------------------------- sections


def section_verdict(
    gate: GateVerdict | None, registry: RegistryRecord | None, primary: str | None
) -> str:
    lines = ["## Gate verdict"]
    if gate is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (no gate verdict: the gate did not run)"])
    lines.append(_verdict_line(gate, registry.version if registry else None))
    if gate.summary:
        lines.append(f"> {text(gate.summary, 500)}")
    lines.append(_checks_table(gate))
    if (comparison := _metrics_comparison(gate, primary)) is not None:
        lines.append(comparison)
    return "\n\n".join(lines)


def _verdict_line(gate: GateVerdict, candidate: str | None) -> str:
    champ = gate.champion_version
    champ_txt = f"champion **v{champ}**" if champ is not None else "no champion yet"
    if candidate is not None:
        cand_txt = f"candidate **v{candidate}**"
    elif gate.blessed:
        cand_txt = "candidate (not registered yet)"
    else:
        cand_txt = "candidate (not registered: not blessed)"
    verdict = "✅ **blessed**" if gate.blessed else "❌ **not blessed**"
    head = f"{verdict} · {champ_txt} → {cand_txt}"
    if gate.mode != "enforce":
        head += f" · mode: {code(gate.mode)}"
    if gate.first_model:
        head += " · first-model rule"
    return head


def _checks_table(gate: GateVerdict) -> str:
    if not gate.checks:
        return "_The gate recorded no checks._"
    rows = [
        [
            code(check.name),
            "✅ pass" if check.passed else "❌ fail",
            num(check.value),
            num(check.threshold),
            text(check.detail or "", 300),
        ]
        for check in gate.checks
    ]
    return table(["check", "result", "value", "threshold", "detail"], rows, "llrrl")


def _metrics_comparison(gate: GateVerdict, primary: str | None) -> str | None:
    """Candidate vs champion on the gate's holdout, the primary metric first."""
    cand_m, champ_m = gate.candidate, gate.champion or {}
    names = [name for name, value in cand_m.items() if _is_number(value)]
    if primary in names:  # the metric the search optimised first
        names.remove(primary)
        names.insert(0, primary)
    if not names:
        return None
    rows = []
    for name in names:
        new, old = cand_m.get(name), champ_m.get(name)
        change = new - old if _is_number(old) and _is_number(new) else None
        label = f"**{text(name)}**" if name == primary else text(name)
        rows.append([label, num(old), num(new), signed(change)])
    champ = gate.champion_version
    champ_head = f"champion v{champ}" if champ is not None else "champion"
    return "Same holdout, both models:\n\n" + table(
        ["metric", champ_head, "candidate", "change"], rows, "lrrr"
    )


_TRIGGER_ORDER = ("event_name", "event_type", "model", "reason", "window", "score", "detector")


def section_trigger(trigger: dict | None) -> str:
    """The validated trigger from `retrain check-payload`: event, then the payload's fields."""
    lines = ["## What triggered this run"]
    if trigger is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (no validated trigger)"])
    payload = trigger.get("payload") or trigger.get("client_payload")
    payload = payload if isinstance(payload, dict) else {}
    outer = {k: v for k, v in trigger.items() if k not in ("payload", "client_payload", "schema")}
    if payload:
        outer.pop("summary", None)  # the table below says the same, field by field
    merged = {**outer, **{k: v for k, v in payload.items() if k != "schema"}}
    keys = [k for k in _TRIGGER_ORDER if k in merged]
    keys += [k for k in merged if k not in _TRIGGER_ORDER and k != "features"]
    rows = []
    for key in keys:
        value = merged[key]
        if isinstance(value, dict) and {"start", "end"} <= set(value):
            shown = f"{code(value['start'])} → {code(value['end'])}"
        elif isinstance(value, dict | list):
            shown = code(json.dumps(value, sort_keys=True))
        elif isinstance(value, float):
            shown = num(value)
        elif value is None or value == "":
            shown = "–"
        else:
            shown = text(value)
        rows.append([text(key), shown])
    features = merged.get("features")
    if isinstance(features, list) and features:
        rows.append(["features", ", ".join(code(f, 60) for f in features[:20])])
    lines.append(table(["field", "value"], rows) if rows else "_empty trigger_")
    return "\n\n".join(lines)


def section_validation(result: ValidationResult | None) -> str:
    lines = ["## Data validation"]
    if result is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (validation did not run)"])
    checks = result.checks
    failed = [c for c in checks if not c.success]
    rows_txt = f" on {num(result.n_rows)} rows" if result.n_rows is not None else ""
    mark = "✅ passed" if result.success else "❌ **failed**"
    lines.append(
        f"{mark}: {len(checks) - len(failed)} of {len(checks)} expectations met{rows_txt}."
    )
    head = ["", "expectation", "column", "observed", "expected"]
    if failed:
        lines.append(table(head, [_expectation_row(c) for c in failed]))
    if checks:
        rows = [_expectation_row(c) for c in checks]
        lines.append(details(f"All {len(checks)} expectations", table(head, rows)))
    return "\n\n".join(lines)


def _expectation_row(check: ValidationCheck) -> list[str]:
    return [
        "✅" if check.success else "❌",
        code(check.expectation, 80),
        code(check.column, 60) if check.column else "–",
        code(json.dumps(check.observed, default=str), 120),
        code(json.dumps(check.expected, default=str), 120),
    ]


def _git_ref_exists(ref: str, root: Path) -> bool:
    try:
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            cwd=root,
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


class DvcQuery:
    """A `dvc <args> --json` started now and read later, so the two diffs and the plots
    rendering overlap (each dvc call costs ~1-2 s of start-up)."""

    def __init__(self, args: list[str], root: Path) -> None:
        self.args = args
        self.error: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dvc", *args, "--json"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            self.error = f"dvc could not run ({exc})"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def result(self) -> tuple[Any | None, str | None]:
        """(data, None) or (None, why it failed)."""
        if self.proc is None:
            return None, self.error
        shown = f"`dvc {' '.join(self.args)}`"
        try:
            stdout, stderr = self.proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return None, f"{shown} timed out"
        if self.proc.returncode != 0:
            last = (stderr.strip().splitlines() or ["unknown error"])[-1]
            return None, f"{shown} failed: {text(last, 160)}"
        try:
            data = json.loads(stdout or "{}")
        except json.JSONDecodeError:
            return None, f"{shown} printed no JSON"
        # dvc exits 0 but loads nothing when a file it needs is unreadable: say why.
        warnings = [ln for ln in stderr.splitlines() if ln.startswith(("WARNING", "ERROR"))]
        if not data and warnings:
            return None, f"{shown}: {text(warnings[0], 200)}"
        return data, None


def start_diffs(ref: str | None, root: Path) -> tuple[str | None, DvcQuery, DvcQuery | None]:
    """(usable baseline or None, metrics query, params query or None), all started."""
    baseline = ref if ref and _git_ref_exists(ref, root) else None
    if baseline:
        metrics = DvcQuery(["metrics", "diff", baseline, "--all"], root)
        return baseline, metrics, DvcQuery(["params", "diff", baseline], root)
    return None, DvcQuery(["metrics", "show"], root), None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def section_metrics(
    ref: str | None, baseline: str | None, query: DvcQuery, skip: set[str] | None = None
) -> str:
    """`dvc metrics diff` vs the baseline (or `dvc metrics show` without one); files in
    `skip` (the gate verdict, shown in its own section) are left out."""
    lines = ["## Metrics vs baseline"]
    if not ref:
        lines.append("_No baseline ref given: showing this run's values only._")
    elif not baseline:
        lines.append(f"_No baseline: {code(ref)} does not exist yet. Showing this run's values._")
    else:
        lines[0] = f"## Metrics vs {code(baseline)}"
    data, error = query.result()
    if error:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE}: {error}"])
    files = _metric_changes(data, baseline)
    if not files:
        return "\n\n".join([*lines, "_No metrics declared in dvc.yaml._"])
    if baseline and all(c.get("old") is None for m in files.values() for c in m.values()):
        lines.append(f"_{code(baseline)} has no metrics yet (first run): this run's values._")
        baseline = None
        files = {path: {k: {"old": None, "new": c.get("new")} for k, c in m.items()}
                 for path, m in files.items()}  # fmt: skip
    skip = skip or set()
    for path in sorted(files):
        if Path(path).as_posix() not in skip and (
            block := _metrics_block(path, files[path], baseline)
        ):
            lines.append(block)
    return "\n\n".join(lines)


def _metric_changes(data: Any, baseline: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """{metrics file: {metric: {"old", "new", "diff"?}}} from dvc's diff (or show) JSON."""
    if baseline:
        return {
            path: {k: v for k, v in metrics.items() if isinstance(v, dict)}
            for path, metrics in (data or {}).items()
            if isinstance(metrics, dict)
        }
    shown = ((data or {}).get("") or {}).get("data") or {}
    files = {}
    for path, entry in shown.items():
        flat: dict[str, Any] = {}
        _flatten((entry or {}).get("data") or {}, "", flat)
        files[path] = {k: {"old": None, "new": v} for k, v in flat.items()}
    return files


def _metrics_block(path: str, changes: dict[str, dict[str, Any]], baseline: str | None) -> str:
    """One metrics file's table (folded past FOLD_ROWS rows); "" when it holds no numbers."""
    rows = []
    for name, change in sorted(changes.items()):
        old, new = change.get("old"), change.get("new")
        if not (_is_number(old) or _is_number(new)) or name == "schema":
            continue  # booleans, strings and format versions are not metrics
        delta = change.get("diff")
        if delta is None and _is_number(old) and _is_number(new):
            delta = new - old
        cells = [text(name), num(new)]
        if baseline:
            cells = [text(name), num(old), num(new), signed(delta)]
        rows.append(cells)
    if not rows:
        return ""
    heads = ["metric", "this run"] if not baseline else ["metric", "baseline", "this run", "change"]
    body = table(heads, rows, "l" + "r" * (len(heads) - 1))
    label = f"<code>{html.escape(path)}</code> ({len(rows)} values)"
    return details(label, body) if len(rows) > FOLD_ROWS else f"{code(path)}\n\n{body}"


def _flatten(data: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = data


def section_params(baseline: str | None, query: DvcQuery | None) -> str:
    lines = ["## Params vs baseline"]
    if not baseline or query is None:
        return "\n\n".join([*lines, "_No baseline to compare against._"])
    lines[0] = f"## Params vs {code(baseline)}"
    data, error = query.result()
    if error:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE}: {error}"])
    rows = []
    for path, params in sorted((data or {}).items()):
        for name, change in sorted((params or {}).items()):
            if not isinstance(change, dict):
                continue
            rows.append(
                [
                    code(f"{path}:{name}" if path != "params.yaml" else name, 80),
                    code(json.dumps(change.get("old")), 60),
                    code(json.dumps(change.get("new")), 60),
                ]
            )
    if not rows:
        return "\n\n".join([*lines, "No parameter changed."])
    return "\n\n".join([*lines, table(["param", "baseline", "this run"], rows)])


def baseline_params(ref: str, params: Path, root: Path) -> Any:
    """The baseline's `params.yaml` (same path at `ref`) as `Params`; None when it has none;
    UserError when it is invalid."""
    import tempfile

    from retrain.config import load_params

    try:
        rel = params.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = params.name
    shown = subprocess.run(
        ["git", "show", f"{ref}:{rel}"], cwd=root, capture_output=True, text=True, check=False
    )
    if shown.returncode != 0:
        return None  # a first commit of params.yaml: nothing to loosen
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(shown.stdout, encoding="utf-8")
        return load_params(path)


def section_loosening(baseline: str | None, params: Path | None, root: Path) -> str:
    """Safety-relevant params that got weaker than the baseline's, in bold, at the top."""
    from retrain.config import load_params
    from retrain.loosening import compare

    if not baseline or params is None or not params.is_file():
        return ""
    title = f"## ⚠️ Safety-relevant params vs {code(baseline)}"
    try:
        old = baseline_params(baseline, params, root)
    except UserError as exc:
        return (
            f"{title}\n\n**Could not compare the gate and data-contract params with "
            f"{code(baseline)}: {text(exc.message, 300)}.** Review the params diff below by hand."
        )
    if old is None:
        return ""
    loosened, changed = compare(old, load_params(params))
    if not loosened and not changed:
        return ""
    lines = [title]
    if loosened:
        lines.append(
            f"**This run loosens {len(loosened)} safety rule(s) compared with "
            f"{code(baseline)}: review before merging.**"
        )
        lines.append("\n".join(f"- **{text(item, 300)}**" for item in loosened))
    if changed:
        lines.append(
            "Other safety-relevant changes:\n\n"
            + "\n".join(f"- {text(item, 300)}" for item in changed)
        )
    return "\n\n".join(lines)


def section_drift(drift: dict | None, given: bool) -> str:
    lines = ["## Drift"]
    if drift is None:
        why = "no drift report for this run" if given else "no drift report was passed"
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} ({why})"])
    scalars = [
        [text(k), num(v) if _is_number(v) or isinstance(v, bool) else text(v)]
        for k, v in drift.items()
        if k != "schema" and (isinstance(v, str | bool) or _is_number(v))
    ]
    for key in ("reference", "current"):  # monitor windows: {"window": label, "n_rows": n}
        span = drift.get(key)
        if isinstance(span, dict) and "window" in span:
            rows_txt = f" ({num(span['n_rows'])} rows)" if _is_number(span.get("n_rows")) else ""
            scalars.append([text(key), f"{code(span['window'], 80)}{rows_txt}"])
    if scalars:
        lines.append(table(["field", "value"], scalars))
    # A per-feature list (any of these keys) becomes a table of the columns the entries share.
    for key in ("features", "tests", "results", "windows"):
        entries = drift.get(key)
        if isinstance(entries, dict):
            entries = [
                {"feature": k, **v} if isinstance(v, dict) else {"feature": k, "value": v}
                for k, v in entries.items()
            ]
        if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
            cols = [
                c for c in entries[0] if all(not isinstance(e.get(c), dict | list) for e in entries)
            ]
            flagged = [
                e
                for e in entries
                if any(e.get(c) is True for c in ("drifted", "triggered", "alert"))
            ]
            order = flagged + [e for e in entries if e not in flagged]
            rows = [
                [
                    num(e.get(c))
                    if _is_number(e.get(c)) or isinstance(e.get(c), bool)
                    else text(e.get(c, "–"), 80)
                    for c in cols
                ]
                for e in order[:20]
            ]
            body = table([text(c) for c in cols], rows)
            lines.append(f"{text(key)} ({len(flagged)} flagged of {len(entries)})\n\n{body}")
    if len(lines) == 1:
        lines.append("_The drift report holds no values to show._")
    return "\n\n".join(lines)


def _ensemble_line(search: SearchSummary | None) -> str | None:
    """One line naming the soft-voted trials when the model is an ensemble (search.json)."""
    if search is None or search.model != "ensemble" or search.ensemble is None:
        return None
    ensemble = search.ensemble
    if not ensemble.members:
        return None
    named = ", ".join(f"#{m.trial} {code(m.family, 40)}" for m in ensemble.members)
    return (
        f"Model: soft vote of trials {named}: CV {num(search.cv_score)} "
        f"vs {num(ensemble.best_single_cv_score)} for the best single trial."
    )


def section_leaderboard(
    board: Leaderboard | None, top: int, search: SearchSummary | None = None
) -> str:
    lines = [f"## Search leaderboard (top {top})"]
    if (line := _ensemble_line(search)) is not None:
        lines.append(line)
    if board is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (no search leaderboard)"])
    rows = [
        [
            str(trial.rank),
            code(trial.family, 40),
            num(trial.cv_score),
            num(trial.fit_time_s, 2),
            code(shown, 160) if (shown := _params_text(trial.params)) else "–",
        ]
        for trial in sorted(board.trials, key=lambda t: t.rank)[:top]
    ]
    if not rows:
        return "\n\n".join([*lines, "_No completed trial._"])
    heads = ["#", "family", f"CV {text(board.primary_metric or 'score')}", "fit s", "params"]
    lines.append(table(heads, rows, "rlrrl"))
    return "\n\n".join(lines)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items()))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def section_plots(images: list[tuple[str, str]], note: str | None) -> str:
    lines = ["## Plots"]
    if not images:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} ({note or 'no plots'})"])
    # Markdown images (files beside the report, linked relatively), two per row,
    # each pair a small table whose header row names the plots.
    blocks = []
    for i in range(0, len(images), 2):
        pair = images[i : i + 2]
        heads = [text(title) for title, _ in pair]
        cells = [f"![{text(title)}]({name})" for title, name in pair]
        blocks.append(table(heads, [cells], "c" * len(pair)))
    return "\n\n".join([*lines, *blocks])


def section_lineage(
    registry: RegistryRecord | None,
    search: SearchSummary | None,
    params_hash: str | None,
    root: Path,
) -> str:
    from retrain import lineage

    rows = [
        ["commit", code(lineage.git_commit(root))],
        ["data hash (data.dvc)", code(lineage.data_hash(root))],
    ]
    run_id = (registry.run_id if registry else None) or (search.mlflow_run_id if search else None)
    rows.append(["MLflow run", code(run_id) if run_id else NOT_AVAILABLE])
    rows.append(["params hash", code(params_hash[:16]) if params_hash else NOT_AVAILABLE])
    if registry is not None:
        if registry.model_uri:
            rows.append(["model URI", code(registry.model_uri)])
        if registry.sha256:
            rows.append(["artifact sha256", code(registry.sha256[:16] + "…")])
    if search is not None:
        for label, value in (("train from", search.train_start), ("train to", search.train_end)):
            if value is not None:
                rows.append([label, code(value)])
        rows.append(["train rows", num(search.n_train)])
    return "## Lineage\n\n" + table(["what", "value"], rows)


def read_costs(directory: Path | None) -> list[StageCost]:
    """Every stage's cost record in `directory` (metrics/cost/<stage>.json), pipeline order."""
    if directory is None or not directory.is_dir():
        return []
    records = [
        read_artifact(StageCost, path, "stage cost record", f"retrain {path.stem}")
        for path in sorted(directory.glob("*.json"))
    ]
    order = {name: i for i, name in enumerate(PIPELINE_STAGES)}
    found = [r for r in records if r is not None]
    return sorted(found, key=lambda r: (order.get(r.stage, len(order)), r.stage))


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def section_cost(costs: list[StageCost]) -> str:
    """What this retrain cost, per stage and in total (wall, CPU, peak memory, money)."""
    if not costs:
        return "## Cost\n\n" + NOT_AVAILABLE
    wall = sum(c.wall_s for c in costs)
    cpu = sum(c.cpu_s for c in costs)
    usd = sum(c.usd for c in costs)
    peak = max(c.peak_rss_mb for c in costs)
    prices = {c.price_per_cpu_hour for c in costs}
    price = f"${prices.pop():g} per CPU-hour" if len(prices) == 1 else "the prices in each record"
    line = (
        f"**This retrain: {duration(wall)}, {cpu / 60:.1f} CPU-min, {peak / 1024:.1f} GB peak, "
        f"≈ ${usd:.3f} at {price}** (stages that re-ran, as the OS measured each process)."
    )
    rows = [
        [
            code(c.stage),
            duration(c.wall_s),
            f"{c.cpu_s:.1f}",
            f"{c.peak_rss_mb:.0f}",
            f"${c.usd:.4f}",
            f"{c.budget_cpu_s:g}" if c.budget_cpu_s is not None else "—",
        ]
        for c in costs
    ]
    heads = ["stage", "wall", "CPU s", "peak MB", "cost", "budget (CPU s)"]
    return "## Cost\n\n" + line + "\n\n" + table(heads, rows, "lrrrrr")


# --------------------------------------------------------------------------- plots


def render_plots(
    plots_dir: Path | None, out_dir: Path
) -> tuple[list[tuple[str, str]], list[Path], str | None]:
    """PNG per DVC plot JSON in `plots_dir` (or the PNG already there), written into out_dir.

    Returns ([(title, file name relative to the report)], written paths, note when none).
    """
    if plots_dir is None or not plots_dir.is_dir():
        return [], [], f"no plots directory {plots_dir}" if plots_dir else "no plots directory"
    sources = sorted(p for p in plots_dir.iterdir() if p.suffix in {".json", ".csv", ".png"})
    if not sources:
        return [], [], f"{plots_dir} is empty"
    images: list[tuple[str, str]] = []
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    stems_with_png = {p.stem for p in sources if p.suffix == ".png"}
    for src in sources:
        title = src.stem.replace("_", " ")
        name = f"plot-{src.stem}.png"
        dest = out_dir / name
        if src.suffix == ".png":
            fileio.write_bytes(dest, src.read_bytes())
        elif src.stem in stems_with_png:
            continue
        else:
            records = _plot_records(src)
            _draw(records, src.stem, dest)
        images.append((title, name))
        written.append(dest)
    return images, written, None


def _csv_records(path: Path) -> list[dict]:
    import csv

    def value(cell: str) -> Any:
        try:
            return int(cell)
        except ValueError:
            try:
                return float(cell)
            except ValueError:
                return cell

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UserError(
            f"plot data {path} is not a readable CSV: {exc}", "re-run `retrain evaluate`"
        ) from None


def _plot_records(path: Path) -> list[dict]:
    rerun = "re-run `retrain evaluate`"
    data = (
        _csv_records(path) if path.suffix == ".csv" else fileio.read_json(path, "plot data", rerun)
    )
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
        raise UserError(
            f"plot data {path} is not a list of records (or an object holding one list)",
            "re-run `retrain evaluate`; DVC plot files are lists of {column: value} rows",
        )
    return data


def _draw(records: list[dict], stem: str, dest: Path) -> None:
    """One PNG from plot records: a confusion matrix, bars (label + number) or a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(records[0])
    numeric = [c for c in cols if all(_is_number(r.get(c)) for r in records)]
    labels = [c for c in cols if c not in numeric]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=90)
    try:
        if "confusion" in stem and len(cols) >= 2:
            _draw_confusion(ax, records, cols, numeric)
        elif labels and numeric:
            _draw_bars(ax, records, labels[0], numeric[0])
        elif len(numeric) >= 2:
            _draw_curve(ax, records, numeric[0], numeric[1], stem)
        else:
            raise UserError(
                f"plot data for '{stem}' has no numeric column to draw",
                "re-run `retrain evaluate`",
            )
        ax.set_title(stem.replace("_", " "))
        fig.tight_layout()
        with fileio.atomic_path(dest) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def _draw_confusion(ax: Any, records: list[dict], cols: list[str], numeric: list[str]) -> None:
    """Counts of (actual, predicted): the first two columns; a third numeric one weighs rows."""
    actual, predicted = cols[0], cols[1]
    keys_a = sorted({str(r[actual]) for r in records})
    keys_p = sorted({str(r[predicted]) for r in records})
    counts = [[0] * len(keys_p) for _ in keys_a]
    weight = (
        numeric[-1]
        if len(cols) > 2 and numeric and numeric[-1] not in (actual, predicted)
        else None
    )
    for r in records:
        counts[keys_a.index(str(r[actual]))][keys_p.index(str(r[predicted]))] += (
            r[weight] if weight else 1
        )
    ax.imshow(counts, cmap="Blues")
    top = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            shade = "white" if value > top / 2 else "black"  # readable on dark cells
            ax.text(j, i, f"{value:,}", ha="center", va="center", fontsize=11, color=shade)
    ax.set_xticks(range(len(keys_p)), keys_p)
    ax.set_yticks(range(len(keys_a)), keys_a)
    ax.set_xlabel(predicted)
    ax.set_ylabel(actual)


def _draw_bars(ax: Any, records: list[dict], label: str, value: str) -> None:
    """The 15 largest values by magnitude (e.g. feature importance), largest on top."""
    top = sorted(records, key=lambda r: abs(r[value]), reverse=True)[:15][::-1]
    ax.barh([str(r[label]) for r in top], [r[value] for r in top], color="#4c72b0")
    ax.set_xlabel(value)
    ax.tick_params(axis="y", labelsize=8)


def _draw_curve(ax: Any, records: list[dict], x: str, y: str, stem: str) -> None:
    """y against x (ROC, PR, calibration); the diagonal where it is the no-skill line."""
    points = sorted(records, key=lambda r: r[x])
    ax.plot([r[x] for r in points], [r[y] for r in points], color="#4c72b0", lw=2)
    if {x, y} <= {"fpr", "tpr"} or "calibration" in stem:
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)


# --------------------------------------------------------------------------- assembly


def _relative_to(path: Path | None, root: Path) -> set[str]:
    if path is None:
        return set()
    try:
        return {path.resolve().relative_to(root.resolve()).as_posix()}
    except ValueError:
        return {path.as_posix()}


def build_report(inputs: ReportInputs) -> Report:
    """Read every input, start the dvc diffs, draw the plots, and assemble the sections."""
    evidence = read_evidence(inputs)
    model, params_hash = _model_and_params_hash(inputs.params, evidence.registry)
    root = inputs.repo_root
    baseline, metrics_query, params_query = start_diffs(inputs.baseline_ref, root)
    try:
        images, written, plot_note = render_plots(inputs.plots, inputs.out.parent)
        sections = [
            headline(model, evidence),
            section_loosening(baseline, inputs.params, root),
            section_verdict(evidence.gate, evidence.registry, evidence.primary_metric),
            section_trigger(evidence.trigger),
            section_validation(evidence.validation),
            section_metrics(
                inputs.baseline_ref, baseline, metrics_query, skip=_relative_to(inputs.gate, root)
            ),
            section_params(baseline, params_query),
            section_drift(evidence.drift, inputs.drift is not None),
            section_leaderboard(evidence.board, inputs.top, evidence.search),
            section_plots(images, plot_note),
            section_cost(read_costs(inputs.costs)),
            section_lineage(evidence.registry, evidence.search, params_hash, root),
            "<sub>Generated by <code>retrain report</code>.</sub>",
        ]
        sections = [s for s in sections if s]
    finally:  # a query the sections did not read (an error came first) is stopped
        for query in (metrics_query, params_query):
            if query is not None:
                query.kill()
    return Report(
        markdown=fit_comment("\n\n".join(sections) + "\n"),
        blessed=evidence.blessed,
        model=model,
        candidate_version=evidence.candidate_version,
        champion_version=evidence.champion_version,
        title=report_title(model, evidence),
        images=written,
    )


def _model_and_params_hash(
    params_path: Path | None, registry: RegistryRecord | None
) -> tuple[str, str | None]:
    """The model's name (params.yaml, else registry.json) and the params hash (lineage)."""
    if params_path is not None and params_path.is_file():
        from retrain.config import load_params, params_hash

        params = load_params(params_path)
        return params.base.model_name, params_hash(params)
    return (registry.model if registry is not None else "model"), None


def headline(model: str, evidence: Evidence) -> str:
    """Title line, the one-line summary in bold, and what merging the pull request does."""
    gate = evidence.gate
    verdict = "blessed" if evidence.blessed else ("not blessed" if gate else "no verdict")
    lines = [f"# Retrain report: {code(model)} — {verdict}"]
    if bits := _summary_bits(evidence):
        lines.append("**" + " · ".join(bits) + "**")
    if gate is not None and gate.suspicious:
        named = ", ".join(code(f, 60) for f in gate.leaking_features[:10])
        tripped = [c.name for c in gate.failed_checks if c.name.startswith("suspicion.")]
        lines.append(
            "⚠️ **Suspiciously good — check for leakage**"
            + (f": feature(s) {named} alone predict the label" if named else "")
            + f" ({', '.join(code(n, 60) for n in tripped)})"
        )
    if gate is not None and gate.override is not None:
        o = gate.override
        state = "**applied**: the suspicion checks are waived" if o.applied else "not applied"
        lines.append(
            f"⚠️ **gate.suspicion.override** for candidate {code(o.candidate_sha256[:12])} "
            f"{state}; reason: **{text(o.reason, 500)}**"
        )
    if evidence.blessed:
        lines.append(
            "Merging this pull request promotes the candidate to champion "
            "(the `promote` workflow moves the alias; reverting the merge moves it back)."
        )
    elif gate:
        lines.append("Nothing is opened for an unblessed model; this report is the record.")
    return "\n\n".join(lines)


def _summary_bits(evidence: Evidence) -> list[str]:
    bits = []
    if (gate := evidence.gate) is not None:
        champion, candidate = evidence.champion_version, evidence.candidate_version
        champ_txt = f"champion v{champion}" if champion is not None else "no champion"
        cand_txt = f"candidate v{candidate}" if candidate is not None else "candidate"
        bits.append(f"{champ_txt} → {cand_txt}")
        if (primary := evidence.primary_metric) and _is_number(new := gate.candidate.get(primary)):
            bit = f"{text(primary)} {num(new)}"
            if _is_number(old := (gate.champion or {}).get(primary)):
                bit += f" ({signed(new - old)} vs champion)"
            bits.append(bit)
    if evidence.trigger:
        event = evidence.trigger.get("event_type") or evidence.trigger.get("event_name")
        if event:
            bits.append(f"trigger: {text(event, 60)}")
    if evidence.validation is not None:
        bits.append("data valid" if evidence.validation.success else "data INVALID")
    return bits


def report_title(model: str, evidence: Evidence) -> str:
    """The pull request's title: model, versions and the trigger's window (one line)."""
    title = f"retrain: {model}"
    if evidence.candidate_version is not None:
        title += f" v{evidence.candidate_version}"
    if evidence.champion_version is not None:
        title += f" (champion v{evidence.champion_version})"
    trigger = evidence.trigger or {}
    payload = trigger.get("client_payload") or trigger.get("payload") or {}
    window = payload.get("window") if isinstance(payload, dict) else None
    if isinstance(window, dict) and window.get("start") and window.get("end"):
        title += f" window {str(window['start'])[:10]}..{str(window['end'])[:10]}"
    return re.sub(r"[\r\n]", " ", title)[:200]


def fit_comment(markdown: str) -> str:
    """Past MAX_CHARS the folded tables are dropped: GitHub refuses longer comments."""
    if len(markdown) <= MAX_CHARS:
        return markdown
    return re.sub(
        r"<details><summary>(.*?)</summary>.*?</details>",
        r"_\1: omitted, a pull request comment is limited to 65,536 characters._",
        markdown,
        flags=re.DOTALL,
    )


def github_outputs(report: Report) -> str:
    """Key=value lines for $GITHUB_OUTPUT (values are single-line by construction)."""
    values = {
        "blessed": "true" if report.blessed else "false",
        "model": report.model,
        "version": "" if report.candidate_version is None else str(report.candidate_version),
        "champion": "" if report.champion_version is None else str(report.champion_version),
        "title": report.title,
    }
    return "".join(f"{key}={_one_line(value)}\n" for key, value in values.items())


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n]", " ", value)


def _path(value: str) -> Path | None:
    return None if value in ("", "none", "-") else Path(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrain report",
        description="Write the markdown report a reviewer reads in the pull request "
        "(`retrain github` posts it). Every input is optional: a missing file is shown as "
        "'not available'; pass 'none' to leave one out.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/report/report.md"),
        help="markdown file; PNG plots are written beside it",
    )
    parser.add_argument(
        "--trigger",
        type=_path,
        default=Path("build/trigger.json"),
        help="validated payload from `retrain check-payload`",
    )
    parser.add_argument("--validation", type=_path, default=Path("build/validation/result.json"))
    parser.add_argument("--gate", type=_path, default=Path("metrics/gate.json"))
    parser.add_argument("--registry", type=_path, default=Path("registry.json"))
    parser.add_argument("--search", type=_path, default=Path("build/train/search.json"))
    parser.add_argument("--leaderboard", type=_path, default=Path("build/train/leaderboard.json"))
    parser.add_argument("--drift", type=_path, default=None, help="drift report JSON (optional)")
    parser.add_argument(
        "--plots",
        type=_path,
        default=Path("plots"),
        help="directory of DVC plot JSON (or PNG) files",
    )
    parser.add_argument("--params", type=_path, default=Path("params.yaml"))
    parser.add_argument(
        "--costs",
        type=_path,
        default=Path("metrics/cost"),
        help="directory of the stages' cost records (metrics/cost/<stage>.json)",
    )
    parser.add_argument(
        "--baseline-ref",
        default=None,
        help="git ref to diff metrics and params against (e.g. origin/main)",
    )
    parser.add_argument("--top", type=int, default=5, help="leaderboard rows to show")
    parser.add_argument(
        "--github-output",
        type=Path,
        default=None,
        help="append blessed/model/version/champion/title to this file ($GITHUB_OUTPUT)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def cli(argv: list[str]) -> int:
    from retrain import logs

    args = _parser().parse_args(argv)
    logs.setup(args.verbose)
    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}", "pass e.g. --top 5")
    if args.out.suffix != ".md":
        raise UserError(
            f"--out must be a .md file, got {args.out}", "pass e.g. build/report/report.md"
        )

    report = build_report(
        ReportInputs(
            out=args.out,
            trigger=args.trigger,
            validation=args.validation,
            gate=args.gate,
            registry=args.registry,
            search=args.search,
            leaderboard=args.leaderboard,
            drift=args.drift,
            plots=args.plots,
            params=args.params,
            costs=args.costs,
            baseline_ref=args.baseline_ref,
            top=args.top,
        )
    )
    fileio.write_text(args.out, report.markdown)
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as fh:
            fh.write(github_outputs(report))
    log.info(
        "wrote %s (%s, %d plot(s))",
        args.out,
        "blessed" if report.blessed else "not blessed",
        len(report.images),
    )
    return 0
