"""Stage cost: measured from the OS for the whole process, written only on success, summed in
the report, and a CPU budget the kernel enforces (clear error, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from retrain.artifacts import StageCost
from retrain.config import parse_params
from retrain.errors import UserError
from retrain.report import read_costs, section_cost

# A stand-in command module: `retrain train` replaced by code that burns CPU for --seconds
# (forever with --seconds 0) and then writes --out, as a stage writes its output at the end.
BURNER = textwrap.dedent(
    """
    import argparse, time
    from pathlib import Path

    def cli(argv):
        parser = argparse.ArgumentParser()
        parser.add_argument("--seconds", type=float)
        parser.add_argument("--out", type=Path)
        parser.add_argument("--params", type=Path)
        args = parser.parse_args(argv)
        end = time.process_time() + (args.seconds or 1e9)
        while time.process_time() < end:
            sum(i * i for i in range(10_000))
        args.out.write_text("done")
        return 0
    """
)


def run_burner(tmp_path: Path, seconds: float, budget: dict | None) -> subprocess.CompletedProcess:
    (tmp_path / "burner.py").write_text(BURNER)
    params = {"cost": {"price_per_cpu_hour": 0.36, "budget": budget or {}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = (
        "import sys; from retrain import cli; "
        "cli.COMMANDS['train'] = ('burner', ''); sys.exit(cli.main(sys.argv[1:]))"
    )
    args = ["train", "--seconds", str(seconds), "--out", "out.txt"]
    args += ["--params", "params.yaml", "--cost", "metrics/cost/train.json"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_stage_records_its_whole_process_cost(tmp_path: Path) -> None:
    # given a stage that spends 1.5 CPU seconds
    # when it runs with --cost
    done = run_burner(tmp_path, 1.5, None)
    # then the record holds the whole process (start-up included) as the OS measured it
    assert done.returncode == 0, done.stderr
    cost = StageCost.read(tmp_path / "metrics" / "cost" / "train.json", "re-run")
    assert cost.stage == "train"
    assert 1.5 <= cost.cpu_s < 1.5 + 10  # the burn plus interpreter start-up and imports
    assert cost.cpu_s == pytest.approx(cost.cpu_user_s + cost.cpu_system_s, abs=0.01)
    assert cost.wall_s >= cost.cpu_s * 0.9  # one busy thread: wall at least ~ its CPU
    assert 10 < cost.peak_rss_mb < 2000
    assert cost.usd == pytest.approx(cost.cpu_s / 3600 * 0.36, rel=1e-3)
    assert cost.budget_cpu_s is None
    assert (tmp_path / "out.txt").read_text() == "done"


def test_a_stage_over_its_cpu_budget_is_stopped_with_a_clear_error(tmp_path: Path) -> None:
    # given a budget of 3 CPU seconds and a stage that would never stop
    started = time.monotonic()
    done = run_burner(tmp_path, 0, {"train": {"cpu_seconds": 3}})
    # then the kernel stops it soon after 3 s, with the params key to raise and no output
    assert done.returncode == 4, done.stderr
    assert time.monotonic() - started < 30
    assert "used its CPU budget of 3 s" in done.stderr
    assert "cost.budget.train" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.txt").exists()
    assert not (tmp_path / "metrics" / "cost" / "train.json").exists()


def test_a_money_budget_becomes_cpu_seconds_at_the_price() -> None:
    params = parse_params(
        {"cost": {"price_per_cpu_hour": 0.36, "budget": {"train": {"usd": 0.01}}}}
    )
    assert params.cost.cpu_limit("train") == pytest.approx(100.0)
    assert params.cost.cpu_limit("gate") is None
    both = parse_params({"cost": {"budget": {"train": {"usd": 1.0, "cpu_seconds": 60}}}})
    assert both.cost.cpu_limit("train") == 60  # the tighter limit


@pytest.mark.parametrize(
    ("cost", "names"),
    [
        ({"budget": {"trian": {"usd": 1}}}, "cost.budget.trian"),
        ({"budget": {"train": {}}}, "set cpu_seconds or usd"),
        ({"budget": {"train": {"cpu_seconds": 0}}}, "cost.budget.train.cpu_seconds"),
        ({"price_per_cpu_hour": -1}, "cost.price_per_cpu_hour"),
        ({"budgets": {}}, "unknown key 'budgets'"),
    ],
)
def test_bad_cost_params_are_refused(cost: dict, names: str) -> None:
    with pytest.raises(UserError, match=names.replace(".", r"\.")):
        parse_params({"cost": cost})


def test_bad_cost_option_is_refused(tmp_path: Path, capsys) -> None:
    from retrain.cli import main

    assert main(["validate", "--cost"]) == 2
    assert "--cost needs a value" in capsys.readouterr().err
    assert main(["validate", "--cost", str(tmp_path / "cost.txt")]) == 2
    assert "--cost must name a .json file" in capsys.readouterr().err


def record(stage: str, cpu: float, wall: float, rss: float) -> StageCost:
    return StageCost(
        stage=stage,
        wall_s=wall,
        cpu_s=cpu,
        cpu_user_s=cpu,
        cpu_system_s=0.0,
        peak_rss_mb=rss,
        price_per_cpu_hour=0.18,
        usd=cpu / 3600 * 0.18,
    )


def test_the_report_sums_the_stages_in_pipeline_order(tmp_path: Path) -> None:
    # given two stages' records (written out of order)
    costs = tmp_path / "cost"
    record("train", 400.0, 230.0, 1900.0).write(costs / "train.json")
    record("extract", 74.0, 20.0, 800.0).write(costs / "extract.json")
    # when the report reads them
    found = read_costs(costs)
    text = section_cost(found)
    # then they are in pipeline order and summed: 250 s wall, 474 CPU s, 1.9 GB, $0.0237
    assert [c.stage for c in found] == ["extract", "train"]
    assert "4 min 10 s" in text and "7.9 CPU-min" in text and "1.9 GB peak" in text
    assert "$0.024" in text and "$0.18 per CPU-hour" in text


def test_the_report_says_when_no_cost_was_recorded(tmp_path: Path) -> None:
    assert read_costs(tmp_path / "absent") == []
    assert "not available" in section_cost([])
    (tmp_path / "bad.json").write_text('{"schema": 1, "stage": "x"}')
    with pytest.raises(UserError, match="not a valid stage cost record"):
        read_costs(tmp_path)
