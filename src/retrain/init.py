"""`retrain init`: profile your table and write a complete, commented params.yaml for it.

    retrain init --table data/x.csv --target COL [--task binary|multiclass|regression]
                 [--time COL] [--key COL] [--positive LABEL] [--out params.yaml] [--force]

The task, the validate suite, the windows, slices, gate bounds and monitor settings are drafted
from the data (retrain.profiling, each by a stated rule); the file is checked with the params
loader before it is written, and an existing file is never overwritten without --force.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from retrain.errors import UserError

TASKS = ("binary", "multiclass", "regression")


def table_path(table: Path, out: Path) -> Path:
    """`table` as params.yaml (read from the project root, the out file's directory) names it."""
    root = out.resolve().parent
    try:
        return table.resolve().relative_to(root)
    except ValueError:
        return Path(os.path.relpath(table.resolve(), root)) if not table.is_absolute() else table


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain init", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, required=True, help="your parquet or CSV file")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--task", choices=TASKS, help="default: inferred from the target")
    parser.add_argument("--time", help="timestamp column: time-ordered split and windows")
    parser.add_argument("--key", help="row id column (default: a unique column named like an id)")
    parser.add_argument("--positive", help="binary: the positive class (default: inferred)")
    parser.add_argument("--out", type=Path, default=Path("params.yaml"), help="file to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    args = parser.parse_args(argv)

    if args.out.exists() and not args.force:
        raise UserError(
            f"{args.out} already exists; refusing to overwrite it",
            "pass --force to replace it (keep a copy first), or --out another file",
        )
    if not args.out.parent.is_dir():
        raise UserError(
            f"directory {args.out.parent} of --out does not exist",
            "create it or pass another --out",
        )
    if not args.table.is_file():
        raise UserError(
            f"--table {args.table} does not exist",
            "pass the path of your parquet or CSV file (keep it under data/)",
        )

    import yaml

    from retrain.config import parse_params
    from retrain.extraction import read_table
    from retrain.fileio import write_text
    from retrain.params_template import render
    from retrain.profiling import draft_params

    frame = read_table(args.table, "utf-8")
    named = table_path(args.table, args.out)
    draft = draft_params(
        frame,
        named,
        args.target,
        task=args.task,
        time=args.time,
        key=args.key,
        positive=args.positive,
    )
    text = render(draft)
    if named.is_absolute() or not named.parts or named.parts[0] != "data":
        draft.review.append(
            f"extract.table.path is {named}: DVC re-runs extract when data/ changes, so move the "
            "table under data/ and correct the path"
        )
        text = render(draft)
    parse_params(yaml.safe_load(text), str(args.out))  # what we write must load
    write_text(args.out, text)
    print(
        f"wrote {args.out}: {draft.label.task} on {draft.target!r} ({draft.n_rows} rows, "
        f"{len(draft.columns)} columns); review before `dvc repro`:"
    )
    for note in draft.review:
        print(f"  - {note}")
    return 0
