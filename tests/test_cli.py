from __future__ import annotations

import subprocess
import sys

import pytest

from retrain.cli import COMMANDS, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert f"  {name} " in out


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_help_imports_no_heavy_library() -> None:
    # `retrain --help` must stay fast: none of the heavy libraries may be imported for it.
    code = (
        "import sys; from retrain.cli import main; main(['--help']); "
        "heavy = [m for m in ('pandas', 'sklearn', 'mlflow', 'feast', 'great_expectations', "
        "'optuna', 'dvc', 'numpy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_module_has_cli(name: str) -> None:
    import importlib

    module = importlib.import_module(COMMANDS[name][0])
    assert callable(getattr(module, "cli", None)), f"{COMMANDS[name][0]} has no cli(argv)"
