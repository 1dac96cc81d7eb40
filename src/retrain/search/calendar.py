"""Request-time calendar features derived from the event time inside the Pipeline.

Known when the prediction is requested (the scheduled departure), so no leakage: local minute of
the day, day of the week, and the signed distance in days to the nearest US federal holiday
(travel peaks around Thanksgiving and Christmas are outside a Jan–Sep train window, but their
holiday distance pattern is learnable from July 4th, Memorial Day, Labor Day...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

# Holidays further away than this all look the same.
HOLIDAY_HORIZON_DAYS = 14
OUTPUT_NAMES = ("minute_of_day", "weekday", "days_to_holiday", "abs_days_to_holiday")


class CalendarFeatures(TransformerMixin, BaseEstimator):
    """One datetime column (tz-aware or UTC-naive) -> four numeric calendar columns."""

    def __init__(self, timezone: str = "UTC") -> None:  # callers pass train.timezone
        self.timezone = timezone

    def fit(self, X: Any, y: Any = None) -> CalendarFeatures:
        self._local(X)  # fail at fit time on an unusable column or time zone
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        import pandas as pd
        from pandas.tseries.holiday import USFederalHolidayCalendar

        local = self._local(X)
        days = local.dt.tz_localize(None).dt.normalize()
        valid = days.dropna()
        out = np.full((len(local), len(OUTPUT_NAMES)), np.nan)
        if valid.empty:
            return out
        holidays = USFederalHolidayCalendar().holidays(
            start=valid.min() - pd.Timedelta(days=366), end=valid.max() + pd.Timedelta(days=366)
        )
        hol = holidays.values.astype("datetime64[D]").astype(np.int64)
        day_num = days.values.astype("datetime64[D]").astype(np.int64)
        # Nearest holiday on either side (holidays are sorted).
        pos = np.clip(np.searchsorted(hol, day_num), 1, len(hol) - 1)
        before, after = day_num - hol[pos - 1], hol[pos] - day_num
        signed = np.where(after <= before, after, -before).astype(float)
        signed = np.clip(signed, -HOLIDAY_HORIZON_DAYS, HOLIDAY_HORIZON_DAYS)
        mask = days.isna().to_numpy()
        out[:, 0] = (local.dt.hour * 60 + local.dt.minute).to_numpy(dtype=float)
        out[:, 1] = local.dt.dayofweek.to_numpy(dtype=float)
        out[:, 2] = np.where(mask, np.nan, signed)
        out[:, 3] = np.abs(out[:, 2])
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(OUTPUT_NAMES, dtype=object)

    def _local(self, X: Any) -> Any:
        import pandas as pd

        column = X.iloc[:, 0] if hasattr(X, "iloc") else pd.Series(np.asarray(X)[:, 0])
        stamps = pd.to_datetime(column, utc=True, errors="coerce")
        return stamps.dt.tz_convert(self.timezone)
