"""Save and load the model pipeline with skops (no pickle), checked by sha256 and an allow-list.

Loading never trusts the artifact's own list of types: only those declared by the code that
builds models may be instantiated (`trusted_types()`: each registered model family's
`skops_types`, plus the shared preprocessing's and the ensemble's), reviewed like code. A
changed file is caught by its sha256 before skops even opens it.

skops is imported through `skops_io()`, which skips its scan of every scikit-learn module (the
default trust list is pinned in `retrain.sklearn_estimators` for the locked versions).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from retrain.errors import UserError
from retrain.fileio import atomic_path

# Where the allow-list is declared (named in the errors).
TYPES_HINT = (
    "the family's skops_types in src/retrain/search/families.py (or SKOPS_TYPES in "
    "src/retrain/search/preprocess.py / ensemble.py)"
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _no_scan(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
    return []


def skops_io() -> ModuleType:
    """`skops.io`, imported without `sklearn.utils.all_estimators()` (which imports every
    scikit-learn module to list the estimators skops trusts by default).

    With the pinned scikit-learn and skops versions skops gets the pinned list
    (`retrain.sklearn_estimators`, equal to the scan: a test checks it), so its default trust
    is unchanged; with other versions, or when skops.io is already imported, it is the plain
    import.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    from importlib.metadata import version

    import sklearn
    import sklearn.utils

    from retrain import sklearn_estimators as pinned

    if (sklearn.__version__, version("skops")) != (pinned.SKLEARN_VERSION, pinned.SKOPS_VERSION):
        import skops.io

        return skops.io
    scan = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = _no_scan  # skops.io._trusted_types calls it at import
    try:
        import skops.io
        from skops.io import _trusted_types
    finally:
        sklearn.utils.all_estimators = scan
    # The module-level list skops' loaders read (the same list object): filled in place.
    _trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES.extend(pinned.ESTIMATOR_TYPES)
    return skops.io


def trusted_types() -> list[str]:
    """Types skops may instantiate beyond its own safe set, derived from the registered families
    plus the fixed preprocessing and ensemble types."""
    from retrain.search import ensemble, families, preprocess

    return sorted(families.skops_types() | preprocess.SKOPS_TYPES | ensemble.SKOPS_TYPES)


def save_model(model: Any, path: Path) -> str:
    """Write `model` to `path` atomically in skops format; returns the file's sha256.

    Refuses to write a model containing a type that the allow-list would refuse to load, so an
    unloadable artifact is caught at training time, not at serving time.
    """
    sio = skops_io()
    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(model, tmp)
        unknown = sorted(set(sio.get_untrusted_types(file=tmp)) - set(trusted_types()))
        if unknown:
            raise UserError(
                f"the model uses types not in the allow-list: {', '.join(unknown)}",
                f"review them and declare them in {TYPES_HINT}",
            )
    return sha256_file(path)


def load_model(path: Path, expected_sha256: str | None = None) -> Any:
    """Load a skops model; verify its sha256 first when given, and trust only allow-listed types."""
    sio = skops_io()
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"model file not found: {path}", "run the pipeline (dvc repro) to produce it"
        )
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise UserError(
                f"model artifact {path} has sha256 {actual[:12]}…, expected {expected_sha256[:12]}…: "
                "it was changed after it was recorded",
                "re-export the model from a trusted pipeline run; never edit artifacts by hand",
            )
    allowed = trusted_types()
    from skops.io.exceptions import UntrustedTypesFoundException

    # One pass over the file: skops audits every type against `allowed` (plus its own safe set)
    # before it constructs anything; the types are listed again only to word a refusal.
    try:
        return sio.load(path, trusted=allowed)
    except UntrustedTypesFoundException as exc:
        unknown = sorted(set(sio.get_untrusted_types(file=path)) - set(allowed)) or [str(exc)]
        raise UserError(
            f"{path} contains types outside the allow-list: {', '.join(unknown)}",
            f"if these are expected, review them and declare them in {TYPES_HINT}",
        ) from None
    except Exception as exc:  # skops raises several types for a corrupt zip
        raise UserError(
            f"{path} is not a readable skops file: {exc}", "re-export the model"
        ) from None
