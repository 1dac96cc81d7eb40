"""The exported model: an MLflow pyfunc 'model from code' directory holding the skops Pipeline, and the serving code its entry point calls (no pickle anywhere)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from retrain.errors import UserError

# The pyfunc entry point stored in the model directory. It holds no logic: everything it does
# lives in this module so it is reviewed and tested like the rest of the code.
ENTRY_POINT = '''"""MLflow pyfunc entry point written by `retrain export` (models from code, no pickle)."""

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model


class SkopsPipelineModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from retrain.exporting import load_context_pipeline

        self.pipeline = load_context_pipeline(context.artifacts)
        self.config = dict(context.model_config or {})

    # A DataFrame hint: MLflow then validates against the logged signature (and stops warning
    # that the hint is missing); it infers no schema from it.
    def predict(self, context, model_input: pd.DataFrame, params=None):
        from retrain.exporting import predict_frame

        return predict_frame(self.pipeline, model_input, self.config)


set_model(SkopsPipelineModel())
'''


# Packages the served model imports (versions pinned to the environment that exported it), plus
# those of the families the model holds (`retrain.search.families.requirements_for`).
REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")


def load_context_pipeline(artifacts: dict[str, str]) -> Any:
    """Load the Pipeline of an exported model: sha256 from sha256.txt, repo allow-list."""
    from retrain.model_io import load_model

    expected = Path(artifacts["sha256"]).read_text(encoding="utf-8").split()[0]
    return load_model(Path(artifacts["pipeline"]), expected_sha256=expected)


def feature_columns(pipeline: Any, frame: Any, label: str = "label") -> list[str]:
    """Columns the Pipeline was fitted on (`feature_names_in_`), else all but the label."""
    names = getattr(pipeline, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [c for c in frame.columns if c != label]


def naive_utc(frame: Any) -> Any:
    """Timezone-aware datetime columns as naive UTC: MLflow signatures only hold naive
    datetimes, and the model's calendar features read naive stamps as UTC, so predictions are
    unchanged (the export parity check proves it)."""
    import pandas as pd

    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not aware:
        return frame
    frame = frame.copy()
    for column in aware:
        frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def predict_frame(pipeline: Any, frame: Any, config: dict[str, Any]) -> Any:
    """Serving output: classification → probability of the positive class and the 0/1
    decision at the tuned threshold; multiclass → `prediction`, the most likely class (as
    base.classes names it), and `probability_<class>` per class; regression → the prediction."""
    import numpy as np
    import pandas as pd

    columns = config.get("features") or feature_columns(pipeline, frame)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"input is missing feature columns: {', '.join(missing)}")
    features = frame[columns]
    if config.get("task") == "multiclass":
        classes = list(config["classes"])
        proba = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
        out = pd.DataFrame({"prediction": [classes[i] for i in np.argmax(proba, axis=1)]})
        for i, name in enumerate(classes):
            out[f"probability_{name}"] = proba[:, i]
        return out
    if config.get("task", "classification") == "classification":
        probability = pipeline.predict_proba(features)[:, 1]
        threshold = float(config.get("threshold", 0.5))
        return pd.DataFrame(
            {
                "probability": probability.astype(np.float64),
                "prediction": (probability >= threshold).astype(np.int64),
            }
        )
    return pd.DataFrame({"prediction": np.asarray(pipeline.predict(features), dtype=np.float64)})


def _requirements(types: list[str]) -> list[str]:
    """Pinned requirements of a model holding these skops types (e.g. lightgbm's booster)."""
    from importlib.metadata import version

    from retrain.search.families import requirements_for

    return [f"{name}=={version(name)}" for name in (*REQUIREMENTS, *requirements_for(types))]


def export_model(
    model_path: Path,
    test_path: Path,
    out_dir: Path,
    *,
    task: str,
    threshold: float | None,
    input_example_rows: int,
    parity_rows: int,
    label: str = "label",
    classes: tuple[str | int, ...] | None = None,
) -> dict[str, Any]:
    """Write the MLflow model directory for `model_path` atomically; returns a summary.

    Checks parity before publishing: the reloaded pyfunc must give exactly the in-memory
    Pipeline's output on `parity_rows` test rows.
    """
    import mlflow.pyfunc
    import numpy as np
    from mlflow.models import infer_signature

    from retrain.model_io import load_model, sha256_file, skops_io
    from retrain.prepared import read_test_window

    sio = skops_io()  # without scikit-learn's all_estimators() scan (see model_io)
    # The model directory records explicit requirements; without this MLflow would also copy
    # the whole project's uv.lock and pyproject.toml into it.
    os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
    if not Path(model_path).is_file():
        raise UserError(f"model file not found: {model_path}", "run the train stage first")
    sha256 = sha256_file(model_path)
    pipeline = load_model(model_path, expected_sha256=sha256)
    test = read_test_window(test_path, label)
    columns = feature_columns(pipeline, test, label)
    missing = [c for c in columns if c not in test.columns]
    if missing:
        raise UserError(
            f"{test_path} lacks the model's feature columns: {', '.join(missing)}",
            "export with the test window prepared for this model (dvc repro prepare)",
        )
    config: dict[str, Any] = {"task": task, "features": columns, "sha256": sha256}
    if threshold is not None:
        config["threshold"] = float(threshold)
    if task == "multiclass":
        n_model = len(getattr(pipeline, "classes_", ()))
        if classes is None or n_model != len(classes):
            raise UserError(
                f"the model scores {n_model} classes, base.classes lists {len(classes or ())}",
                "re-run train after changing base.classes (dvc repro)",
            )
        # served as text: one output type whatever the classes' YAML types
        config["classes"] = [str(c) for c in classes]
    example = naive_utc(test[columns].head(input_example_rows))
    # Expected output from the original (tz-aware) rows, served output from naive UTC rows.
    expected = predict_frame(pipeline, test[columns].head(parity_rows), config)
    parity_input = naive_utc(test[columns].head(parity_rows))

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        side = work / "side"
        side.mkdir()
        # pyfunc keeps artifact file names; the registry reads artifacts/model.skops.
        shutil.copyfile(model_path, side / "model.skops")
        (side / "sha256.txt").write_text(f"{sha256}  model.skops\n", encoding="utf-8")
        types = sorted(set(sio.get_untrusted_types(file=model_path)))
        (side / "types.txt").write_text("".join(f"{t}\n" for t in types), encoding="utf-8")
        entry = side / "python_model.py"
        entry.write_text(ENTRY_POINT, encoding="utf-8")
        staged = work / "model"
        mlflow.pyfunc.save_model(
            path=str(staged),
            python_model=str(entry),
            artifacts={
                "pipeline": str(side / "model.skops"),
                "sha256": str(side / "sha256.txt"),
                "types": str(side / "types.txt"),
            },
            model_config=config,
            signature=infer_signature(example, predict_frame(pipeline, example, config)),
            input_example=example,
            pip_requirements=_requirements(types),
        )
        reloaded = mlflow.pyfunc.load_model(str(staged))
        got = reloaded.predict(parity_input)
        numbers = [c for c in expected.columns if c != "prediction" or task != "multiclass"]
        same_labels = task != "multiclass" or got["prediction"].tolist() == (
            expected["prediction"].tolist()
        )
        if not same_labels or not np.allclose(
            got[numbers].to_numpy(dtype=float),
            expected[numbers].to_numpy(dtype=float),
            rtol=0,
            atol=1e-12,
        ):
            raise UserError(
                "the exported model does not reproduce the trained Pipeline's predictions",
                "check that the environment's scikit-learn/skops match the training run",
            )
        # Publish: swap the finished directory in; the old one is removed only afterwards.
        old = work / "old"
        if out_dir.exists():
            out_dir.rename(old)
        staged.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"sha256": sha256, "features": len(columns), "types": types, "rows": len(test)}
