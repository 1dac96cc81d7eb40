"""The contracts between the parts: every model round-trips, refuses bad forms with a message
naming the file, and docs/contracts.md lists exactly the fields the models have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrain import artifacts
from retrain.artifacts import ChampionInfo, RegistryRecord, VersionTags
from retrain.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_docs_list_the_fields_of_every_contract() -> None:
    # given the contracts page
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    # when the table is generated from the models
    start = text.index(artifacts.DOC_BEGIN)
    end = text.index(artifacts.DOC_END) + len(artifacts.DOC_END)
    # then the page holds exactly that table
    assert text[start:end] == artifacts.contracts_markdown(), (
        "docs/contracts.md is stale: run "
        "`uv run python -m retrain.artifacts --write docs/contracts.md`"
    )


def test_a_record_round_trips_and_missing_is_null(tmp_path: Path) -> None:
    # given a first model's record (no baseline)
    record = RegistryRecord(model="m", version="1", sha256="a" * 64, blessed=True)
    # when it is written and read back
    record.write(tmp_path / "registry.json")
    data = json.loads((tmp_path / "registry.json").read_text())
    # then missing values are null on disk, never a sentinel string
    assert data["baseline_version"] is None and "withdraws" not in data
    assert RegistryRecord.read(tmp_path / "registry.json", "fix") == record
    assert (tmp_path / "registry.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", r"not a schema-1 champion file \(not an object\)"),
        ('{"schema": 2, "model": "m"}', "unknown schema 2"),
        ('{"schema": 1}', "model: Field required"),
        ('{"schema": 1, "model": "m", "version": 3}', "version: Input should be a valid string"),
        ('{"schema": 1, "model": "m", "extra": 1}', "extra: Extra inputs are not permitted"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content: str, message: str):
    # given a broken champion.json
    path = tmp_path / "champion.json"
    path.write_text(content)
    # when it is read, then the error names the file, the problem and the fix
    with pytest.raises(UserError, match=message) as caught:
        ChampionInfo.read(path, "re-run the champion stage")
    assert str(path) in caught.value.message and caught.value.hint == "re-run the champion stage"


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="champion file not found"):
        ChampionInfo.read(tmp_path / "absent.json", "re-run")


def test_version_tags_have_no_sentinels() -> None:
    # given tags of a first model without lineage
    tags = VersionTags(sha256="s", gate_checks_passed=True, metrics={"roc_auc": 0.75, "r2": None})
    # when they become MLflow tags
    as_tags = tags.to_tags()
    # then absent values are absent tags and flags are lower-case strings
    assert as_tags == {"sha256": "s", "gate_checks_passed": "true", "metric.roc_auc": "0.75"}
    assert VersionTags.from_tags(as_tags).metrics == {"roc_auc": 0.75}
