"""AutoML search internals used by `retrain train` (and by replay, with its own budget).

- `study`: `SearchSettings`, `run_search(train_df, settings, tracker) -> SearchResult`,
  `fit_best(train_df, settings, result)` — the pure core.
- `families`: the model-family registry (`get_family`, `family_names`): each family's tasks,
  estimator, search-space handling and the skops types it needs; configuration -> Pipeline.
- `preprocess`: the shared preprocessing (feature columns by dtype, the ColumnTransformer).
- `records`: `TrialRecord`, `SearchResult` (what the study writes and the tracker logs).
- `cv`: time-ordered expanding-window folds.
- `tracker`: `MlflowTracker` (parent run + one child per trial) and `NullTracker`.
- `metrics`: metric functions by name, F1 threshold.
- `calendar`: request-time calendar features from the event time (inside the Pipeline).
"""
