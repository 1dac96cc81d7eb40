"""`retrain report`: every section from tiny fixtures, real git + dvc for the diffs vs main."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retrain import report
from retrain.artifacts import (
    GateVerdict,
    Leaderboard,
    LeaderboardRow,
    RegistryRecord,
    SearchSummary,
    ValidationResult,
)
from retrain.cli import main as retrain_main
from retrain.errors import UserError

FIX = Path(__file__).parent / "fixtures" / "report"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def _place_run_outputs(root: Path) -> None:
    """The files a finished pipeline run leaves in the workspace (fixture copies)."""
    for src, dest in [
        ("gate.json", "metrics/gate.json"),
        ("registry.json", "registry.json"),
        ("search.json", "build/train/search.json"),
        ("leaderboard.json", "build/train/leaderboard.json"),
        ("result.json", "build/validation/result.json"),
        ("trigger.json", "build/trigger.json"),
    ]:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIX / src, root / dest)
    shutil.copytree(FIX / "plots", root / "plots")
    shutil.copytree(FIX / "cost", root / "metrics" / "cost")


@pytest.fixture
def run_repo(tmp_path: Path) -> Path:
    """A git + dvc repo whose `main` holds the champion's metrics and params, and whose
    workspace holds a new run's outputs (metrics changed, base.seed changed)."""
    root = tmp_path / "repo"
    root.mkdir()
    _run(["git", "init", "-q", "-b", "main"], root)
    _run([sys.executable, "-m", "dvc", "init", "-q"], root)
    (root / "metrics").mkdir()
    shutil.copyfile(FIX / "dvc.yaml", root / "dvc.yaml")
    shutil.copyfile(FIX / "params.yaml", root / "params.yaml")
    shutil.copyfile(FIX / "evaluate_main.json", root / "metrics/evaluate.json")
    _run(["git", "add", "-A"], root)
    _run([*GIT, "commit", "-q", "-m", "champion"], root)
    shutil.copyfile(FIX / "evaluate.json", root / "metrics/evaluate.json")
    params = (root / "params.yaml").read_text().replace("seed: 42", "seed: 7")
    (root / "params.yaml").write_text(params)
    _place_run_outputs(root)
    return root


def _cli(root: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(root)
    return retrain_main(["report", *args])


@pytest.mark.integration
def test_full_report_has_every_section_with_real_numbers(
    run_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run_repo / "build/report/report.md"
    gh_out = run_repo / "gh_output"
    code = _cli(
        run_repo,
        "--baseline-ref",
        "main",
        "--drift",
        str(FIX / "drift.json"),
        "--github-output",
        str(gh_out),
        monkeypatch=monkeypatch,
    )
    assert code == 0
    md = out.read_text()
    # headline + verdict
    assert md.startswith("# Retrain report: `flight-delay` — blessed")
    assert "champion **v3** → candidate **v4**" in md
    assert "| `bootstrap CI roc_auc` | ✅ pass | 0.0041 | 0 |" in md
    assert "| **roc\\_auc** | 0.7318 | 0.7421 | +0.0103 |" in md
    # trigger + validation
    assert "| window | `2013-06-01` → `2013-07-01` |" in md
    assert "| event\\_type | drift\\-detected |" in md
    assert "✅ passed: 4 of 4 expectations met on 27,004 rows." in md
    # dvc metrics diff and params diff against main, computed by dvc itself
    assert "## Metrics vs `main`" in md
    assert "| n\\_test | 5,012 | 6,401 | +1,389 |" in md
    assert "| roc\\_auc | 0.7318 | 0.7421 | +0.0103 |" in md
    assert "| `base.seed` | `42` | `7` |" in md
    assert "Safety-relevant params" not in md  # a new seed loosens nothing
    # drift, leaderboard top 5 only
    assert "features (2 flagged of 3)" in md
    assert "| current | `2013-06-01..2013-07-01 (America/New_York)` (27,004 rows) |" in md
    assert "candidate.roc" not in md  # gate.json is in its own section, not the metrics diff
    assert "| 5 | `random_forest` | 0.6877 |" in md
    assert "`C=3.2`" not in md  # rank 6
    # cost: the stages' records summed (170.1 s wall, 284.2 CPU s, 2.2 GB peak, $0.0142)
    assert "**This retrain: 2 min 50 s, 4.7 CPU-min, 2.2 GB peak, ≈ $0.014 at $0.18" in md
    assert "| `train` | 2 min 9 s | 231.4 | 1630 | $0.0116 | 1800 |" in md
    # plots: PNGs beside the report, linked relatively (what CML uploads)
    for name in ("plot-roc.png", "plot-confusion.png", "plot-importance.png"):
        assert f"]({name})" in md
        assert (out.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # lineage: the repo's own commit, the registry's run id
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=run_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert f"`{head}-dirty`" in md
    assert "`5d1f0c2ab8e34f7c9a6b1e2d3c4f5a6b`" in md
    assert "not available" not in md
    outputs = dict(line.split("=", 1) for line in gh_out.read_text().splitlines())
    assert outputs["blessed"] == "true"
    assert outputs["model"] == "flight-delay"
    assert outputs["version"] == "4"
    assert outputs["champion"] == "3"
    assert outputs["title"].startswith("retrain: flight-delay v4 (champion v3)")


@pytest.mark.integration
def test_a_loosened_gate_is_at_the_top_in_bold(
    run_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given main's params with a gate, committed, and a run whose params loosen it
    import yaml

    strict = {
        "base": {"seed": 42, "model_name": "flight-delay"},
        "gate": {"values": {"roc_auc": {"min": 0.65}}, "bootstrap": {"resamples": 1000}},
    }
    (run_repo / "params.yaml").write_text(yaml.safe_dump(strict))
    _run(["git", "add", "params.yaml"], run_repo)
    _run([*GIT, "commit", "-q", "-m", "gate"], run_repo)
    loose = copy.deepcopy(strict)
    loose["gate"].update(mode="dry_run", values={"roc_auc": {"min": 0.0}})
    loose["gate"]["suspicion"] = {"leakage": {"enabled": False}}
    (run_repo / "params.yaml").write_text(yaml.safe_dump(loose))
    # when the report compares with main
    assert _cli(run_repo, "--baseline-ref", "main", monkeypatch=monkeypatch) == 0
    md = (run_repo / "build/report/report.md").read_text()
    # then the loosening comes first, right under the headline, each rule in bold
    top = md.split("## Gate verdict", 1)[0]
    assert "## ⚠️ Safety-relevant params vs `main`" in top
    assert (
        "**This run loosens 3 safety rule(s) compared with `main`: review before merging.**" in top
    )
    assert "- **gate\\.mode: enforce → dry\\_run" in top
    assert "- **gate\\.values\\.roc\\_auc\\.min: 0\\.65 → 0 \\(lower floor\\)**" in top
    assert "- **gate\\.suspicion\\.leakage\\.enabled: true → false" in top
    # and a stricter gate is not flagged
    tighter = copy.deepcopy(strict)
    tighter["gate"]["values"] = {"roc_auc": {"min": 0.7}}
    (run_repo / "params.yaml").write_text(yaml.safe_dump(tighter))
    assert _cli(run_repo, "--baseline-ref", "main", monkeypatch=monkeypatch) == 0
    assert "Safety-relevant" not in (run_repo / "build/report/report.md").read_text()


def test_unreadable_baseline_params_are_said_not_skipped(tmp_path: Path) -> None:
    # given main's params.yaml that this branch cannot read (an unknown key)
    _run(["git", "init", "-q", "-b", "main"], tmp_path)
    (tmp_path / "params.yaml").write_text("gate:\n  bogus: 1\n")
    _run(["git", "add", "params.yaml"], tmp_path)
    _run([*GIT, "commit", "-q", "-m", "main"], tmp_path)
    (tmp_path / "params.yaml").write_text("gate:\n  mode: dry_run\n")
    # when the loosening section compares
    section = report.section_loosening("main", tmp_path / "params.yaml", tmp_path)
    # then it says so in bold instead of silently showing nothing
    assert "**Could not compare the gate and data-contract params with `main`" in section
    assert "bogus" in section
    # and a params file the baseline does not have (a first commit) has nothing to loosen
    (tmp_path / "other.yaml").write_text("gate:\n  mode: dry_run\n")
    assert report.section_loosening("main", tmp_path / "other.yaml", tmp_path) == ""


def test_suspicious_verdict_and_override_are_in_the_headline() -> None:
    gate = GateVerdict.parse((FIX / "gate.json").read_text(), "gate.json", "fix")
    leak = gate.checks[0].model_copy(
        update={"name": "suspicion.leakage", "passed": False, "features": {"leak": 1.0}}
    )
    flagged = gate.model_copy(
        update={
            "blessed": False,
            "checks": [*gate.checks, leak],
            "suspicious": True,
            "leaking_features": ["leak"],
        }
    )
    md = report.headline("m", report.Evidence(gate=flagged))
    assert "⚠️ **Suspiciously good — check for leakage**: feature(s) `leak` alone predict" in md
    assert "(`suspicion.leakage`)" in md
    from retrain.artifacts import OverrideRecord

    waived = flagged.model_copy(
        update={
            "blessed": True,
            "override": OverrideRecord(
                candidate_sha256="ab" * 32, reason="reviewed in #7: real gain", applied=True
            ),
        }
    )
    md = report.headline("m", report.Evidence(gate=waived))
    assert "⚠️ **gate.suspicion.override** for candidate `abababababab` **applied**" in md
    assert "reason: **reviewed in \\#7: real gain**" in md
    assert "override" not in report.headline("m", report.Evidence(gate=gate))


@pytest.mark.integration
def test_everything_missing_is_reported_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gh_out = tmp_path / "gh_output"
    assert _cli(tmp_path, "--baseline-ref", "main", "--github-output", str(gh_out),
                monkeypatch=monkeypatch) == 0  # fmt: skip
    md = (tmp_path / "build/report/report.md").read_text()
    for section in (
        "## Gate verdict",
        "## What triggered this run",
        "## Data validation",
        "## Drift",
        "## Search leaderboard (top 5)",
        "## Plots",
    ):
        body = md.split(section, 1)[1].split("\n## ", 1)[0]
        assert "_not available_" in body, section
    assert "_No baseline: `main` does not exist yet." in md
    assert "blessed=false\n" in gh_out.read_text()
    assert "version=\n" in gh_out.read_text()


@pytest.mark.integration
def test_unblessed_first_run_without_baseline(
    run_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = json.loads((FIX / "gate.json").read_text())
    gate.update(blessed=False, champion_version=None, champion=None, first_model=True)
    gate["checks"][0].update(passed=False, value=0.61)
    (run_repo / "metrics/gate.json").write_text(json.dumps(gate))
    reg = json.loads((FIX / "registry.json").read_text())
    reg.update(version=None, blessed=False)
    (run_repo / "registry.json").write_text(json.dumps(reg))
    out = tmp_path / "r" / "report.md"
    code = _cli(run_repo, "--out", str(out), "--baseline-ref", "no-such-branch",
                monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0
    md = out.read_text()
    assert "— not blessed" in md
    assert "❌ **not blessed** · no champion yet → candidate (not registered: not blessed)" in md
    assert "| `roc_auc >= floor` | ❌ fail | 0.61 | 0.65 |" in md
    assert "Nothing is opened for an unblessed model" in md
    # no baseline: this run's values straight from `dvc metrics show`
    assert "_No baseline: `no-such-branch` does not exist yet." in md
    assert "| roc\\_auc | 0.7421 |" in md
    assert "## Params vs baseline\n\n_No baseline to compare against._" in md


def test_untrusted_payload_text_cannot_inject_markup(tmp_path: Path) -> None:
    trigger = json.loads((FIX / "trigger.json").read_text())
    trigger["client_payload"]["reason"] = (
        "[click](https://evil.example) <img src=x onerror=alert(1)> `x` | y\n# h"
    )
    trigger["client_payload"]["detector"] = "<script>alert(1)</script>"
    trigger["client_payload"]["features"] = ["a`|b", "<b>"]
    (tmp_path / "t.json").write_text(json.dumps(trigger))
    trigger_file = report.read_object(
        tmp_path / "t.json", "trigger payload", "retrain check-payload"
    )
    section = report.section_trigger(trigger_file)
    reason_row = next(line for line in section.splitlines() if line.startswith("| reason"))
    assert "\n# h" not in section  # the newline did not start a heading
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(section)
    # rendered as GitHub would: the payload shows as text, never as tags or links
    for tag in ("<img", "<script", "<b>", "<a ", "<h1"):
        assert tag not in html, tag
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # header + 8 fields, two cells each: the pipe in the payload split nothing
    assert html.count("<tr>") == 1 + 8
    assert html.count("<td") == 2 * 8
    assert "| y # h" in html.replace("\\", "")
    assert reason_row.startswith("| reason | ")


BAD_FORMS = [
    ("not json", "{nope", "not valid JSON"),
    ("a list", "[1, 2]", "not an object"),
    ("wrong schema", '{"schema": 2}', "unknown schema 2"),
]


@pytest.mark.parametrize(
    ("option", "required"),
    [
        ("gate", "blessed"),
        ("validation", "success"),
        ("registry", "model"),
        ("leaderboard", "trials"),
        ("trigger", None),
        ("search", None),
        ("drift", None),
    ],
)
@pytest.mark.parametrize(("form", "content", "message"), BAD_FORMS)
def test_malformed_input_is_an_error_naming_the_file(
    tmp_path: Path, option: str, required: str | None, form: str, content: str, message: str
) -> None:
    bad = tmp_path / f"{option}.json"
    bad.write_text(content)
    inputs = _no_inputs(tmp_path, **{option: bad})
    with pytest.raises(UserError, match=message) as err:
        report.build_report(inputs)
    assert str(bad) in str(err.value)


# Each input's fixture file, and the contract model it is read with.
FIXTURE_OF = {
    "gate": ("gate.json", GateVerdict),
    "registry": ("registry.json", RegistryRecord),
    "validation": ("result.json", ValidationResult),
    "leaderboard": ("leaderboard.json", Leaderboard),
    "search": ("search.json", SearchSummary),
}
DROP = object()


def _broken(option: str, **changes: object) -> str:
    """The option's (valid) fixture with `changes` applied; a DROP value removes the key."""
    data = json.loads((FIX / FIXTURE_OF[option][0]).read_text())
    for key, value in changes.items():
        if value is DROP:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize("option", sorted(FIXTURE_OF))
def test_fixtures_are_what_the_writers_write(option: str) -> None:
    name, model = FIXTURE_OF[option]
    parsed = model.read(FIX / name, "update the fixture to the model in retrain.artifacts")
    assert json.loads((FIX / name).read_text()) == parsed.to_dict()


@pytest.mark.parametrize(
    ("option", "changes", "message"),
    [
        ("gate", {"schema": DROP}, "unknown schema None"),
        ("gate", {"blessed": DROP}, "blessed: Field required"),
        ("gate", {"blessed": "yes"}, "blessed: Input should be a valid boolean"),
        ("gate", {"checks": [{"name": "x"}]}, "checks\\.0\\.passed: Field required"),
        ("gate", {"champion_version": "v3"}, "champion_version: String should match pattern"),
        ("registry", {"version": "v4"}, "version number or null"),
        ("validation", {"checks": [{}]}, "checks\\.0\\.expectation: Field required"),
        ("leaderboard", {"trials": [3]}, "trials\\.0: Input should be a valid dictionary"),
        ("search", {"cv_score": "high"}, "cv_score: Input should be a valid number"),
    ],
)
def test_wrong_shapes_are_errors(
    tmp_path: Path, option: str, changes: dict[str, object], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(_broken(option, **changes))
    with pytest.raises(UserError, match=message) as err:
        report.build_report(_no_inputs(tmp_path, **{option: bad}))
    assert str(bad) in str(err.value)
    assert "docs/contracts.md" in (err.value.hint or "")


def test_malformed_plot_data_is_an_error(tmp_path: Path) -> None:
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / "roc.json").write_text('{"a": 1}')
    with pytest.raises(UserError, match=r"plot data .*roc\.json is not a list of records"):
        report.build_report(_no_inputs(tmp_path, plots=plots))
    (plots / "roc.json").write_text('[{"a": "x", "b": "y"}]')
    with pytest.raises(UserError, match="no numeric column"):
        report.build_report(_no_inputs(tmp_path, plots=plots))
    (plots / "roc.json").unlink()
    (plots / "pr.csv").write_bytes(b"recall,precision\n\xff\xfe,1\n")
    with pytest.raises(UserError, match=r"pr\.csv is not a readable CSV"):
        report.build_report(_no_inputs(tmp_path, plots=plots))


def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gate.json").write_text("{broken")
    assert _cli(tmp_path, "--gate", "gate.json", "--out", "r/report.md",
                monkeypatch=monkeypatch) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "retrain report: error: gate verdict gate.json is not valid JSON" in err
    assert "fix:" in err
    assert not (tmp_path / "r").exists()
    assert _cli(tmp_path, "--top", "0", monkeypatch=monkeypatch) == 2
    assert _cli(tmp_path, "--out", "report.html", monkeypatch=monkeypatch) == 2


def test_a_wrong_typed_field_exits_2_naming_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gate.json").write_text(_broken("gate", checks_passed="yes"))
    assert _cli(tmp_path, "--gate", "gate.json", "--out", "r/report.md",
                monkeypatch=monkeypatch) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "error: gate verdict gate.json is not a valid gate result: checks_passed:" in err
    assert "fix: re-run `retrain gate`" in err
    assert not (tmp_path / "r").exists()


def test_rendered_html_has_the_tables_and_images(tmp_path: Path) -> None:
    """The markdown renders as GitHub would: tables are tables, plots are <img> tags."""
    markdown_it = pytest.importorskip("markdown_it")
    root = tmp_path / "w"
    root.mkdir()
    _place_run_outputs(root)
    shutil.copyfile(FIX / "params.yaml", root / "params.yaml")
    built = report.build_report(
        report.ReportInputs(
            out=root / "out/report.md",
            trigger=root / "build/trigger.json",
            validation=root / "build/validation/result.json",
            gate=root / "metrics/gate.json",
            registry=root / "registry.json",
            search=root / "build/train/search.json",
            leaderboard=root / "build/train/leaderboard.json",
            drift=FIX / "drift.json",
            plots=root / "plots",
            params=root / "params.yaml",
            baseline_ref=None,
            repo_root=root,
        )
    )
    html = (
        markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(built.markdown)
    )
    assert html.count("<table>") >= 7
    for name in ("plot-roc.png", "plot-confusion.png", "plot-importance.png"):
        assert f'<img src="{name}"' in html
    assert "| " not in html  # no table left unrendered
    assert "\\_" not in html and "\\." not in html  # escapes were consumed by the renderer


def _no_inputs(tmp_path: Path, **given: Path) -> report.ReportInputs:
    fields = dict.fromkeys(
        ("trigger", "validation", "gate", "registry", "search", "leaderboard", "plots", "params")
    )
    return report.ReportInputs(
        out=tmp_path / "out/report.md", repo_root=tmp_path, **{**fields, **given}
    )


def test_a_huge_report_still_fits_a_pr_comment(tmp_path: Path) -> None:
    checks = [
        {"expectation": f"expect_{i}_" + "x" * 60, "column": f"c{i}", "success": True,
         "observed": i, "expected": i}
        for i in range(2000)
    ]  # fmt: skip
    bad = tmp_path / "result.json"
    bad.write_text(json.dumps({"schema": 1, "success": True, "n_rows": 5, "n_checks": 2000,
                               "n_failed": 0, "checks": checks}))  # fmt: skip
    built = report.build_report(_no_inputs(tmp_path, validation=bad))
    assert len(built.markdown) < 65_536
    assert "All 2000 expectations: omitted, a pull request comment is limited" in built.markdown


def test_leaderboard_names_the_ensemble_members_only_for_an_ensemble() -> None:
    board = Leaderboard(primary_metric="roc_auc", greater_is_better=True, trials=[
        LeaderboardRow(rank=1, number=6, family="extra_trees", params={}, cv_score=0.73,
                       fit_time_s=2.5, state="complete"),
    ])  # fmt: skip
    written = json.loads((FIX / "search.json").read_text())
    search = SearchSummary.model_validate({
        **written,
        "model": "ensemble",
        "cv_score": 0.7431,
        "ensemble": {
            "members": [
                {"trial": 6, "family": "extra_trees", "params": {}, "cv_score": 0.73},
                {"trial": 4, "family": "hist_gradient_boosting", "params": {}, "cv_score": 0.7319},
            ],
            "best_single_cv_score": 0.7319,
        },
    })  # fmt: skip
    text = report.section_leaderboard(board, 5, search)
    assert "soft vote of trials #6 `extra_trees`, #4 `hist_gradient_boosting`" in text
    assert "CV 0.7431 vs 0.7319" in text
    single = SearchSummary.model_validate({**written, "model": "single", "cv_score": 0.73})
    assert "soft vote" not in report.section_leaderboard(board, 5, single)
    assert "soft vote" not in report.section_leaderboard(board, 5, None)
