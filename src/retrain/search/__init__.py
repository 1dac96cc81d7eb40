"""AutoML search internals used by `retrain train` (and by replay, with its own budget).

- `study`: `SearchSettings`, `run_search(train_df, settings, tracker) -> SearchResult`,
  `fit_best(train_df, settings, result)` — the pure core.
- `families`: configuration -> whole sklearn Pipeline (preprocessing included).
- `cv`: time-ordered expanding-window folds.
- `tracker`: `MlflowTracker` (parent run + one child per trial) and `NullTracker`.
- `metrics`: metric functions by name (shared with evaluate), F1 threshold.
- `calendar`: request-time calendar features from the event time (inside the Pipeline).
"""
