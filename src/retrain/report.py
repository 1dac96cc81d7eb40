"""`retrain report`: the markdown a reviewer reads in the pull request (posted by CML).

Every input is optional but reported: a missing file shows "not available" in its section (a
first run has no champion, a scheduled run has no drift file), while a file that exists but is
malformed stops the command with an error naming the file, because a report that silently
drops half its evidence would mislead the reviewer. Payload strings are untrusted: they are
escaped before they enter the markdown so a crafted `reason` cannot inject links or HTML.

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
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    baseline_ref: str | None = None
    top: int = 5
    repo_root: Path = Path(".")


@dataclass
class Report:
    markdown: str
    blessed: bool
    model: str
    candidate_version: int | None
    champion_version: int | None
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


def _read_json(path: Path | None, what: str) -> Any | None:
    """None when absent; UserError naming the file when present but not usable JSON."""
    if path is None or not path.exists():
        return None
    if not path.is_file():
        raise UserError(f"{what} {path} is not a file", f"pass the path of the {what} JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{what} {path} is not valid JSON: {exc}",
            f"re-run the stage that writes {path} (or delete it to report it as missing)",
        ) from None


def _expect(data: Any, path: Path, what: str, required: dict[str, type | tuple[type, ...]]) -> dict:
    if not isinstance(data, dict):
        raise UserError(
            f"{what} {path} must hold a JSON object, got {type(data).__name__}",
            f"re-run the stage that writes {path}",
        )
    if "schema" in data and data["schema"] != 1:
        raise UserError(
            f"{what} {path} has schema {data['schema']!r}; this report reads schema 1",
            "upgrade retrain or re-run the stage that wrote the file",
        )
    for key, kind in required.items():
        if key not in data:
            raise UserError(
                f"{what} {path} lacks the key '{key}'",
                f"re-run the stage that writes {path}; see docs/contracts.md",
            )
        if not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise UserError(
                f"{what} {path}: '{key}' must be {names}, got {type(data[key]).__name__}",
                f"re-run the stage that writes {path}; see docs/contracts.md",
            )
    return data


_OPT_INT = (int, type(None))
_NUMBER = (int, float)


def read_gate(path: Path | None) -> dict | None:
    data = _read_json(path, "gate verdict")
    if data is None:
        return None
    assert path is not None
    gate = _expect(data, path, "gate verdict", {"blessed": bool, "checks": list})
    for i, check in enumerate(gate["checks"]):
        if not isinstance(check, dict) or "name" not in check or "passed" not in check:
            raise UserError(
                f"gate verdict {path}: checks[{i}] needs 'name' and 'passed'",
                "re-run `retrain gate`; see docs/contracts.md",
            )
    _normalise_versions(gate, ("champion_version",), path, "gate verdict", "retrain gate")
    return gate


def _normalise_versions(
    data: dict, keys: tuple[str, ...], path: Path, what: str, stage: str
) -> None:
    """Version fields as int or None. MLflow numbers versions with strings of digits."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value.isdigit():
            data[key] = int(value)
        elif key in data and (not isinstance(value, _OPT_INT) or isinstance(value, bool)):
            raise UserError(
                f"{what} {path}: '{key}' must be a version number or null, got {value!r}",
                f"re-run `{stage}`; see docs/contracts.md",
            )


def read_registry(path: Path | None) -> dict | None:
    data = _read_json(path, "registry file")
    if data is None:
        return None
    assert path is not None
    reg = _expect(data, path, "registry file", {"model": str})
    _normalise_versions(reg, ("version", "baseline_version"), path, "registry file", "retrain push")
    return reg


def read_validation(path: Path | None) -> dict | None:
    data = _read_json(path, "validation result")
    if data is None:
        return None
    assert path is not None
    result = _expect(data, path, "validation result", {"success": bool, "checks": list})
    for i, check in enumerate(result["checks"]):
        if not isinstance(check, dict) or "success" not in check:
            raise UserError(
                f"validation result {path}: checks[{i}] needs 'success'",
                "re-run `retrain validate`; see docs/contracts.md",
            )
    return result


def read_leaderboard(path: Path | None) -> dict | None:
    data = _read_json(path, "search leaderboard")
    if data is None:
        return None
    assert path is not None
    board = _expect(data, path, "search leaderboard", {"trials": list})
    for i, trial in enumerate(board["trials"]):
        if not isinstance(trial, dict):
            raise UserError(
                f"search leaderboard {path}: trials[{i}] must be an object",
                "re-run `retrain train`",
            )
    return board


def read_object(path: Path | None, what: str) -> dict | None:
    data = _read_json(path, what)
    if data is None:
        return None
    assert path is not None
    return _expect(data, path, what, {})


# --------------------------------------------------------------------------- sections


def section_verdict(gate: dict | None, registry: dict | None, primary: str | None) -> str:
    lines = ["## Gate verdict"]
    if gate is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (no gate verdict: the gate did not run)"])
    champ = gate.get("champion_version")
    cand = registry.get("version") if registry else None
    champ_txt = f"champion **v{champ}**" if champ is not None else "no champion yet"
    if cand is not None:
        cand_txt = f"candidate **v{cand}**"
    elif gate["blessed"]:
        cand_txt = "candidate (not registered yet)"
    else:
        cand_txt = "candidate (not registered: not blessed)"
    verdict = "✅ **blessed**" if gate["blessed"] else "❌ **not blessed**"
    mode = gate.get("mode")
    head = f"{verdict} · {champ_txt} → {cand_txt}"
    if mode and mode != "enforce":
        head += f" · mode: {code(mode)}"
    if gate.get("first_model"):
        head += " · first-model rule"
    lines.append(head)
    if gate.get("summary"):
        lines.append(f"> {text(gate['summary'], 500)}")
    rows = []
    for check in gate["checks"]:
        rows.append(
            [
                code(check["name"]),
                "✅ pass" if check["passed"] else "❌ fail",
                num(check.get("value")),
                num(check.get("threshold")),
                text(check.get("detail") or "", 300),
            ]
        )
    if rows:
        lines.append(table(["check", "result", "value", "threshold", "detail"], rows, "llrrl"))
    else:
        lines.append("_The gate recorded no checks._")
    cand_m, champ_m = gate.get("candidate") or {}, gate.get("champion") or {}
    names = [k for k in cand_m if isinstance(cand_m[k], _NUMBER)]
    if primary in names:  # the metric the search optimised first
        names.remove(primary)
        names.insert(0, primary)
    if names:
        rows = []
        for name in names:
            new, old = cand_m.get(name), champ_m.get(name)
            change = new - old if isinstance(old, _NUMBER) and isinstance(new, _NUMBER) else None
            label = f"**{text(name)}**" if name == primary else text(name)
            rows.append([label, num(old), num(new), signed(change)])
        champ_head = f"champion v{champ}" if champ is not None else "champion"
        lines.append(
            "Same holdout, both models:\n\n"
            + table(["metric", champ_head, "candidate", "change"], rows, "lrrr")
        )
    return "\n\n".join(lines)


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


def section_validation(result: dict | None) -> str:
    lines = ["## Data validation"]
    if result is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (validation did not run)"])
    checks = result["checks"]
    failed = [c for c in checks if not c["success"]]
    n_rows = result.get("n_rows")
    rows_txt = f" on {num(n_rows)} rows" if isinstance(n_rows, int) else ""
    mark = "✅ passed" if result["success"] else "❌ **failed**"
    lines.append(
        f"{mark}: {len(checks) - len(failed)} of {len(checks)} expectations met{rows_txt}."
    )

    def row(c: dict) -> list[str]:
        return [
            "✅" if c["success"] else "❌",
            code(c.get("expectation", "?"), 80),
            code(c["column"], 60) if c.get("column") else "–",
            code(json.dumps(c.get("observed"), default=str), 120),
            code(json.dumps(c.get("expected"), default=str), 120),
        ]

    head = ["", "expectation", "column", "observed", "expected"]
    if failed:
        lines.append(table(head, [row(c) for c in failed]))
    if checks:
        lines.append(
            details(f"All {len(checks)} expectations", table(head, [row(c) for c in checks]))
        )
    return "\n\n".join(lines)


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
    if baseline:
        files = {
            path: {k: v for k, v in metrics.items() if isinstance(v, dict)}
            for path, metrics in (data or {}).items()
            if isinstance(metrics, dict)
        }
    else:
        shown = ((data or {}).get("") or {}).get("data") or {}
        files = {}
        for path, entry in shown.items():
            flat: dict[str, Any] = {}
            _flatten((entry or {}).get("data") or {}, "", flat)
            files[path] = {k: {"old": None, "new": v} for k, v in flat.items()}
    if not files:
        return "\n\n".join([*lines, "_No metrics declared in dvc.yaml._"])
    if baseline and all(c.get("old") is None for m in files.values() for c in m.values()):
        lines.append(f"_{code(baseline)} has no metrics yet (first run): this run's values._")
        baseline = None
        files = {path: {k: {"old": None, "new": c.get("new")} for k, c in m.items()}
                 for path, m in files.items()}  # fmt: skip
    skip = skip or set()
    for path in sorted(files):
        if Path(path).as_posix() in skip:
            continue
        rows = []
        for name, change in sorted(files[path].items()):
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
            continue
        heads = (
            ["metric", "this run"] if not baseline else ["metric", "baseline", "this run", "change"]
        )
        body = table(heads, rows, "l" + "r" * (len(heads) - 1))
        label = f"<code>{html.escape(path)}</code> ({len(rows)} values)"
        lines.append(details(label, body) if len(rows) > FOLD_ROWS else f"{code(path)}\n\n{body}")
    return "\n\n".join(lines)


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


def _ensemble_line(search: dict | None) -> str | None:
    """One line naming the soft-voted trials when the model is an ensemble (search.json)."""
    search = search or {}
    ensemble = search.get("ensemble")
    if search.get("model") != "ensemble" or not isinstance(ensemble, dict):
        return None
    members = [m for m in ensemble.get("members") or [] if isinstance(m, dict)]
    if not members:
        return None
    named = ", ".join(f"#{m.get('trial', '?')} {code(m.get('family', '?'), 40)}" for m in members)
    return (
        f"Model: soft vote of trials {named}: CV {num(search.get('cv_score'))} "
        f"vs {num(ensemble.get('best_single_cv_score'))} for the best single trial."
    )


def section_leaderboard(board: dict | None, top: int, search: dict | None = None) -> str:
    lines = [f"## Search leaderboard (top {top})"]
    if (line := _ensemble_line(search)) is not None:
        lines.append(line)
    if board is None:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} (no search leaderboard)"])
    trials = sorted(board["trials"], key=lambda t: (t.get("rank") is None, t.get("rank") or 0))
    metric = board.get("primary_metric") or "score"
    rows = []
    for i, trial in enumerate(trials[:top], 1):
        params = trial.get("params") or {}
        shown = (
            ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items()))
            if isinstance(params, dict)
            else str(params)
        )
        rows.append(
            [
                str(trial.get("rank", i)),
                code(trial.get("family", "?"), 40),
                num(trial.get("cv_score")),
                num(trial.get("fit_time_s"), 2),
                code(shown, 160) if shown else "–",
            ]
        )
    if not rows:
        return "\n\n".join([*lines, "_No completed trial._"])
    extra = []
    for key, label in (("n_trials", "trials"), ("n_pruned", "pruned")):
        if _is_number(board.get(key)):
            extra.append(f"{num(board[key])} {label}")
    if extra:
        lines.append(", ".join(extra))
    heads = ["#", "family", f"CV {text(metric)}", "fit s", "params"]
    lines.append(table(heads, rows, "rlrrl"))
    return "\n\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def section_plots(images: list[tuple[str, str]], note: str | None) -> str:
    lines = ["## Plots"]
    if not images:
        return "\n\n".join([*lines, f"{NOT_AVAILABLE} ({note or 'no plots'})"])
    # Markdown images (CML uploads the local files it finds as image nodes), two per row,
    # each pair a small table whose header row names the plots.
    blocks = []
    for i in range(0, len(images), 2):
        pair = images[i : i + 2]
        heads = [text(title) for title, _ in pair]
        cells = [f"![{text(title)}]({name})" for title, name in pair]
        blocks.append(table(heads, [cells], "c" * len(pair)))
    return "\n\n".join([*lines, *blocks])


def section_lineage(
    registry: dict | None, search: dict | None, params_hash: str | None, root: Path
) -> str:
    from retrain import lineage

    rows = [
        ["commit", code(lineage.git_commit(root))],
        ["data hash (data.dvc)", code(lineage.data_hash(root))],
    ]
    run_id = (registry or {}).get("run_id") or (search or {}).get("mlflow_run_id")
    rows.append(["MLflow run", code(run_id) if run_id else NOT_AVAILABLE])
    rows.append(["params hash", code(params_hash[:16]) if params_hash else NOT_AVAILABLE])
    if registry:
        if registry.get("model_uri"):
            rows.append(["model URI", code(registry["model_uri"])])
        if registry.get("sha256"):
            rows.append(["artifact sha256", code(str(registry["sha256"])[:16] + "…")])
    if search:
        for key, label in (
            ("train_start", "train from"),
            ("train_end", "train to"),
            ("n_train", "train rows"),
        ):
            if search.get(key) is not None:
                rows.append(
                    [label, code(search[key]) if isinstance(search[key], str) else num(search[key])]
                )
    return "## Lineage\n\n" + table(["what", "value"], rows)


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
    import shutil

    images: list[tuple[str, str]] = []
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    stems_with_png = {p.stem for p in sources if p.suffix == ".png"}
    for src in sources:
        title = src.stem.replace("_", " ")
        name = f"plot-{src.stem}.png"
        dest = out_dir / name
        if src.suffix == ".png":
            shutil.copyfile(src, dest)
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
    data = _csv_records(path) if path.suffix == ".csv" else _read_json(path, "plot data")
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(records[0])
    numeric = [c for c in cols if all(_is_number(r.get(c)) for r in records)]
    labels = [c for c in cols if c not in numeric]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=90)
    try:
        if "confusion" in stem and len(cols) >= 2:
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
        elif labels and numeric:
            top = sorted(records, key=lambda r: abs(r[numeric[0]]), reverse=True)[:15][::-1]
            ax.barh([str(r[labels[0]]) for r in top], [r[numeric[0]] for r in top], color="#4c72b0")
            ax.set_xlabel(numeric[0])
            ax.tick_params(axis="y", labelsize=8)
        elif len(numeric) >= 2:
            x, y = numeric[0], numeric[1]
            points = sorted(records, key=lambda r: r[x])
            ax.plot([r[x] for r in points], [r[y] for r in points], color="#4c72b0", lw=2)
            if {x, y} <= {"fpr", "tpr"} or "calibration" in stem:
                ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
            ax.set_xlabel(x)
            ax.set_ylabel(y)
            ax.grid(alpha=0.3)
        else:
            raise UserError(
                f"plot data for '{stem}' has no numeric column to draw",
                "re-run `retrain evaluate`",
            )
        ax.set_title(stem.replace("_", " "))
        fig.tight_layout()
        tmp = dest.with_suffix(".tmp.png")
        fig.savefig(tmp)
        os.replace(tmp, dest)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- assembly


def _relative_to(path: Path | None, root: Path) -> set[str]:
    if path is None:
        return set()
    try:
        return {path.resolve().relative_to(root.resolve()).as_posix()}
    except ValueError:
        return {path.as_posix()}


def build_report(inputs: ReportInputs) -> Report:
    root = inputs.repo_root
    trigger = read_object(inputs.trigger, "trigger payload")
    validation = read_validation(inputs.validation)
    gate = read_gate(inputs.gate)
    registry = read_registry(inputs.registry)
    search = read_object(inputs.search, "search summary")
    board = read_leaderboard(inputs.leaderboard)
    drift = read_object(inputs.drift, "drift report") if inputs.drift else None
    if inputs.drift is not None and drift is None and not inputs.drift.exists():
        log.info("drift report %s not found; reported as not available", inputs.drift)

    model, params_hash = "model", None
    if inputs.params is not None and inputs.params.is_file():
        from retrain.config import load_params
        from retrain.config import params_hash as hash_params

        params = load_params(inputs.params)
        model, params_hash = params.base.model_name, hash_params(params)
    elif registry:
        model = registry["model"]

    primary = (board or {}).get("primary_metric") or (search or {}).get("primary_metric")
    blessed = bool(gate and gate["blessed"])
    champion = gate.get("champion_version") if gate else None
    candidate = registry.get("version") if registry and registry.get("blessed", True) else None
    if candidate is not None and not isinstance(candidate, int):
        candidate = int(candidate) if str(candidate).isdigit() else None

    baseline, metrics_query, params_query = start_diffs(inputs.baseline_ref, root)
    try:
        images, written, plot_note = render_plots(inputs.plots, inputs.out.parent)
    except BaseException:
        for query in (metrics_query, params_query):
            if query is not None:
                query.kill()
        raise

    verdict = "blessed" if blessed else ("not blessed" if gate else "no verdict")
    headline = [f"# Retrain report: {code(model)} — {verdict}"]
    summary_bits = []
    if gate:
        champ_txt = f"champion v{champion}" if champion is not None else "no champion"
        cand_txt = f"candidate v{candidate}" if candidate is not None else "candidate"
        summary_bits.append(f"{champ_txt} → {cand_txt}")
        cm, pm = gate.get("candidate") or {}, gate.get("champion") or {}
        if primary and _is_number(cm.get(primary)):
            bit = f"{text(primary)} {num(cm[primary])}"
            if _is_number(pm.get(primary)):
                bit += f" ({signed(cm[primary] - pm[primary])} vs champion)"
            summary_bits.append(bit)
    if trigger:
        event = trigger.get("event_type") or trigger.get("event_name")
        if event:
            summary_bits.append(f"trigger: {text(event, 60)}")
    if validation is not None:
        summary_bits.append("data valid" if validation["success"] else "data INVALID")
    if summary_bits:
        headline.append("**" + " · ".join(summary_bits) + "**")
    if blessed:
        headline.append(
            "Merging this pull request promotes the candidate to champion "
            "(the `promote` workflow moves the alias; reverting the merge moves it back)."
        )
    elif gate:
        headline.append("Nothing is opened for an unblessed model; this report is the record.")

    sections = [
        "\n\n".join(headline),
        section_verdict(gate, registry, primary),
        section_trigger(trigger),
        section_validation(validation),
        section_metrics(
            inputs.baseline_ref, baseline, metrics_query, skip=_relative_to(inputs.gate, root)
        ),
        section_params(baseline, params_query),
        section_drift(drift, inputs.drift is not None),
        section_leaderboard(board, inputs.top, search),
        section_plots(images, plot_note),
        section_lineage(registry, search, params_hash, root),
        "<sub>Generated by <code>retrain report</code>.</sub>",
    ]
    title = f"retrain: {model}"
    if candidate is not None:
        title += f" v{candidate}"
    if champion is not None:
        title += f" (champion v{champion})"
    payload = (trigger or {}).get("client_payload") or (trigger or {}).get("payload") or {}
    window = payload.get("window") if isinstance(payload, dict) else None
    if isinstance(window, dict) and window.get("start") and window.get("end"):
        title += f" window {str(window['start'])[:10]}..{str(window['end'])[:10]}"
    markdown = "\n\n".join(sections) + "\n"
    if len(markdown) > MAX_CHARS:
        markdown = re.sub(
            r"<details><summary>(.*?)</summary>.*?</details>",
            r"_\1: omitted, a pull request comment is limited to 65,536 characters._",
            markdown,
            flags=re.DOTALL,
        )
    return Report(
        markdown=markdown,
        blessed=blessed,
        model=model,
        candidate_version=candidate,
        champion_version=champion,
        title=re.sub(r"[\r\n]", " ", title)[:200],
        images=written,
    )


def _atomic_write(path: Path, content: str, mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(
        prog="retrain report",
        description="Write the markdown report a reviewer reads in the pull request (CML posts "
        "it). Every input is optional: a missing file is shown as 'not available'; pass "
        "'none' to leave one out.",
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
    args = parser.parse_args(argv)
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
            baseline_ref=args.baseline_ref,
            top=args.top,
        )
    )
    _atomic_write(args.out, report.markdown)
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
