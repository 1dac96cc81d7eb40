"""File I/O every part shares: atomic writes with one file mode, and readers that fail with a
`UserError` naming the path and the fix instead of a library traceback.

Atomic means: written to a uniquely named hidden temp file next to the target, flushed, then
renamed over it, so a reader (or a killed run) never sees half a file. Outputs are ordinary repo
files: mode 0644 less the process umask (mkstemp alone would leave them 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

FILE_MODE = 0o644


def _mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return FILE_MODE & ~umask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path next to `path` to write to; renamed over `path` when the block succeeds,
    removed when it fails. For writers that need a file name (parquet, skops, savefig)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[IO[Any]], None], *, binary: bool = False) -> None:
    """Call `write(fh)` on a temp file next to `path`, then rename it into place."""
    with atomic_path(path) as tmp:
        if binary:
            with open(tmp, "wb") as fh:
                write(fh)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                write(fh)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data), binary=True)


def dump_json(data: Any) -> str:
    """The project's JSON layout: 2-space indent, keys in insertion order, final newline."""
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_text(path, dump_json(data))


def write_tables(tables: dict[Path, pd.DataFrame]) -> None:
    """Write each frame to its parquet path: all of them, or (on error) none of them."""
    temps: dict[Path, Path] = {}
    try:
        for path, frame in tables.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            temps[path] = Path(name)
            frame.to_parquet(temps[path], index=False)
            os.chmod(temps[path], _mode())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


# Largest JSON file any part reads (artifacts, payloads, plot data are KBs to a few MBs).
MAX_JSON_BYTES = 256 * 1024**2


def read_json(path: Path, what: str, hint: str) -> Any:
    """Parsed JSON of `path`; a missing, oversized or malformed file is a UserError naming
    `what` (the message never quotes the file)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise UserError(
                f"{what} {path} is {size:,} bytes; JSON inputs may have at most {MAX_JSON_BYTES:,}",
                hint,
            )
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}", hint) from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a directory, not a file", hint) from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise UserError(f"{what} {path} is not valid JSON: {exc}", hint) from None


def read_parquet(path: Path, what: str, hint: str, **kwargs: Any) -> pd.DataFrame:
    """The table at `path`; a missing or unreadable file is a UserError naming `what`."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}", hint)
    try:
        return pd.read_parquet(path, **kwargs)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise UserError(f"{what} {path} is not a readable parquet file: {exc}", hint) from None


# Directories (os.pathsep-separated) besides the project from which input files may be read.
DATA_ROOTS_ENV = "RETRAIN_DATA_ROOTS"


def data_roots(project: Path) -> list[Path]:
    """Where input files may live: the project directory (that of params.yaml) and every
    directory listed in $RETRAIN_DATA_ROOTS, each fully resolved."""
    roots = [Path(project).resolve()]
    extra = os.environ.get(DATA_ROOTS_ENV, "")
    roots += [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p.strip()]
    return roots


def input_roots(params_path: Path) -> list[Path]:
    """Where a command's input-path arguments may point: the project (the directory of
    params.yaml), the working directory (DVC runs stages at the repository root) and
    $RETRAIN_DATA_ROOTS."""
    roots = data_roots(Path(params_path).resolve().parent)
    cwd = Path.cwd().resolve()
    return roots if cwd in roots else [roots[0], cwd, *roots[1:]]


def confined_dir(directory: Path, names: tuple[str, ...], roots: list[Path], key: str) -> Path:
    """`directory` confined to `roots` (see `confined`), and each of its files `names` that
    exists (or is a dangling link) too: a symlinked file inside cannot lead outside either."""
    resolved = confined(directory, roots, key)
    for name in names:
        entry = Path(directory) / name
        if entry.is_symlink() or entry.exists():
            confined(entry, roots, f"{key} file")
    return resolved


def confined(path: Path, roots: list[Path], key: str) -> Path:
    """`path` resolved (symlinks and `..` followed, nothing opened), if it lies in one of
    `roots`; else a UserError naming `key`. Read the returned path, not `path`, so a symlink
    swapped after the check is not followed."""
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise UserError(
            f"{key} {path} resolves outside the project ({', '.join(map(str, roots))}); "
            "it was not opened",
            f"copy the file under the project (e.g. data/) or add its directory to "
            f"${DATA_ROOTS_ENV}",
        )
    return resolved
