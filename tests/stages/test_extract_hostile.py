"""extract, source `table`, against hostile files: paths outside the project, bombs, caps.

Each bad input is refused through the console script (exit 2, nothing written, no file
content in the message); the matching good input is still read.
"""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from retrain.cli import main
from retrain.config.extract import InputLimits
from retrain.errors import UserError
from retrain.extraction import read_table

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

_opened: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # records every file Python opens (cannot be removed: cheap filter)


def table() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "y": [0, 1, 0, 1], "city": ["a", "b", "c", "d"]})


def project(tmp_path: Path, path: Path | str, **limits: int) -> tuple[Path, Path]:
    """A project dir with params.yaml naming `path` as the table; returns (params, out)."""
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    extract: dict[str, Any] = {"source": "table", "table": {"path": str(path)}}
    if limits:
        extract["limits"] = limits
    params = root / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "base": {"key": "id", "target": "y", "event_time": None},
                "extract": extract,
                # the flights defaults name columns this table does not have
                "evaluate": {"slices": []},
                "prepare": {"drop_columns": []},
                "monitor": {"exclude": []},
            }
        )
    )
    return params, root / "build" / "features.parquet"


def refused(params: Path, out: Path, capsys: pytest.CaptureFixture) -> str:
    """Run extract through the console script: exit 2, nothing written; the error text."""
    started = time.perf_counter()
    assert main(["extract", "--out", str(out), "--params", str(params)]) == 2
    assert time.perf_counter() - started < 5  # in-process; whole-process: bench_refusals.py
    assert not out.parent.exists()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --- paths stay inside the project ------------------------------------------------------------


def test_symlink_to_a_file_outside_the_project_is_refused_without_opening_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETRAIN_DATA_ROOTS", raising=False)
    outside = tmp_path / "home" / "credentials.csv"
    outside.parent.mkdir()
    outside.write_text(f"{SECRET}\n1\n")
    params, out = project(tmp_path, tmp_path / "project" / "data" / "table.csv")
    link = tmp_path / "project" / "data" / "table.csv"
    link.parent.mkdir()
    link.symlink_to(outside)
    _opened.clear()

    err = refused(params, out, capsys)

    assert "extract.table.path" in err and "resolves outside the project" in err
    assert "RETRAIN_DATA_ROOTS" in err
    assert SECRET not in err and "wJalr" not in err
    assert str(outside) not in _opened  # never opened, not even to sniff its type


def test_dotdot_out_of_the_project_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETRAIN_DATA_ROOTS", raising=False)
    table().to_csv(tmp_path / "elsewhere.csv", index=False)
    params, out = project(tmp_path, tmp_path / "project" / ".." / "elsewhere.csv")
    assert "resolves outside the project" in refused(params, out, capsys)


def test_an_allow_listed_data_root_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    table().to_csv(shared / "t.csv", index=False)
    params, out = project(tmp_path, tmp_path / "project" / "data" / "t.csv")
    (tmp_path / "project" / "data").mkdir()
    (tmp_path / "project" / "data" / "t.csv").symlink_to(shared / "t.csv")
    monkeypatch.setenv("RETRAIN_DATA_ROOTS", str(shared))
    _opened.clear()
    assert main(["extract", "--out", str(out), "--params", str(params)]) == 0
    assert len(pd.read_parquet(out)) == 4
    assert str(shared / "t.csv") in _opened  # the audit hook does see the reads


def test_a_raw_table_symlinked_outside_the_project_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the Feast source's --data directory inside the project, one of whose tables is a
    # symlink to a credentials file outside it
    monkeypatch.delenv("RETRAIN_DATA_ROOTS", raising=False)
    outside = tmp_path / "home" / "credentials.csv"
    outside.parent.mkdir()
    outside.write_text(f"{SECRET}\n")
    root = tmp_path / "project"
    data = root / "data"
    data.mkdir(parents=True)
    (data / "weather.csv").symlink_to(outside)
    params, out = root / "params.yaml", root / "build" / "features.parquet"
    params.write_text("{}\n")  # extract.source: feast
    _opened.clear()
    # when extract runs on it
    args = ["extract", "--data", str(data), "--out", str(out), "--params", str(params)]
    assert main(args) == 2
    # then it is refused by name before anything is opened, nothing written, nothing quoted
    err = capsys.readouterr().err
    assert "--data file" in err and "weather.csv resolves outside the project" in err
    assert SECRET not in err and "Traceback" not in err
    assert str(outside) not in _opened and not out.parent.exists()
    # and the same directory without the link is accepted by the path check (it then
    # fails on the missing flights table, a different error)
    (data / "weather.csv").unlink()
    assert main(args) == 2
    assert "resolves outside" not in capsys.readouterr().err


def test_errors_never_quote_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # A credentials file copied into the project: its first line would be the "header".
    path = tmp_path / "project" / "data" / "table.csv"
    params, out = project(tmp_path, path)
    path.parent.mkdir()
    path.write_text(f"{SECRET}\nanother line\n")
    err = refused(params, out, capsys)
    assert "lacks the column(s)" in err
    assert "wJalr" not in err and "AWS_SECRET" not in err and "another line" not in err


def test_bad_timestamps_are_counted_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    table().assign(when=["2021-05-01", "s3cr3t-token", "2021-05-02", "x"]).to_csv(path, index=False)
    from retrain.config.extract import Window
    from retrain.extraction import table_features

    window = Window(start="2021-01-01", end="2022-01-01")
    with pytest.raises(UserError) as err:
        table_features(path, "utf-8", "id", "y", "when", window)
    assert "in 2 row(s), the first at data row 2" in str(err.value)
    assert "s3cr3t" not in str(err.value)


# --- size and shape caps ------------------------------------------------------------------------


def gzip_bomb(path: Path, gib: float = 2.0) -> Path:
    """A ~2 MB .csv.gz whose second row holds one `gib` GiB field (concatenated gzip members:
    one compressed 16 MiB block written over and over, so building it takes well under 1 s)."""
    block = 16 * 1024 * 1024
    member = gzip.compress(b"a" * block, compresslevel=9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(b"id,y,city\n1,0,"))
        for _ in range(int(gib * 1024**3 / block)):
            fh.write(member)
    return path


def test_gzip_bomb_is_refused_within_a_second_of_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "project").mkdir()
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz")
    assert bomb.stat().st_size < 5 * 1024**2
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"extract.limits.max_line_bytes"):
        read_table(bomb, "utf-8", InputLimits())
    assert time.perf_counter() - started < 1.0

    params, out = project(tmp_path, bomb.rename(tmp_path / "project" / "bomb.csv.gz"))
    assert "max_line_bytes" in refused(params, out, capsys)


def test_corrupt_gzip_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"id,y\n1,0\n")[:-6] + b"garbage")
    with pytest.raises(UserError, match="cannot be decompressed"):
        read_table(path, "utf-8", InputLimits())


@pytest.mark.parametrize(
    ("name", "limits", "key"),
    [
        ("t.csv", {"max_file_bytes": 10}, "max_file_bytes"),
        ("t.csv.gz", {"max_decompressed_bytes": 20}, "max_decompressed_bytes"),
        ("t.csv", {"max_rows": 3}, "max_rows"),
        ("t.csv", {"max_columns": 2}, "max_columns"),
        ("t.csv", {"max_line_bytes": 5}, "max_line_bytes"),
        ("t.parquet", {"max_rows": 3}, "max_rows"),
        ("t.parquet", {"max_columns": 2}, "max_columns"),
        ("t.parquet", {"max_decompressed_bytes": 10}, "max_decompressed_bytes"),
        ("t.parquet", {"max_field_chars": 3}, "max_field_chars"),
        ("t.csv", {"max_field_chars": 3}, "max_field_chars"),
    ],
)
def test_each_cap_refuses_and_names_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, limits: dict[str, int], key: str
) -> None:
    frame = table().assign(city=["a", "b", "c", "long text"])
    params, out = project(tmp_path, tmp_path / "project" / name, **limits)
    path = tmp_path / "project" / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    err = refused(params, out, capsys)
    assert f"extract.limits.{key}" in err and "raise" in err


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.csv.zip", "t.parquet"])
def test_a_table_within_the_caps_is_read(tmp_path: Path, name: str) -> None:
    frame = table()
    params, out = project(
        tmp_path, tmp_path / "project" / name, max_rows=4, max_columns=3, max_field_chars=1
    )
    path = tmp_path / "project" / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    assert main(["extract", "--out", str(out), "--params", str(params)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)
