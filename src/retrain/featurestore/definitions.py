"""Feast entities and feature views of the project (the "feature repository", as code).

Imported only by `store.py` (Feast is heavy). Sources are parquet files in the work dir,
written by `store.FlightFeatureStore.build` from data/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, String, UnixTimestamp

from retrain.featurestore.sources import (
    RECENT_VIEWS,
    TAIL_PREV_DEP_DELAY,
    TAIL_PREV_DEPARTED_AT,
    WEATHER_COLUMNS,
)

PROJECT = "retrain_flights"

origin = Entity(name="origin", join_keys=["origin"], value_type=ValueType.STRING)
tailnum = Entity(name="tailnum", join_keys=["tailnum"], value_type=ValueType.STRING)
carrier = Entity(name="carrier", join_keys=["carrier"], value_type=ValueType.STRING)
route = Entity(name="route", join_keys=["route"], value_type=ValueType.STRING)  # "EWR-IAH"
dest = Entity(name="dest", join_keys=["dest"], value_type=ValueType.STRING)
ENTITIES = (origin, tailnum, carrier, route, dest)
ENTITY_BY_KEY = {entity.join_key: entity for entity in ENTITIES}

# History views: (name, entity, trailing days, rate column, optional count column).
# Each source holds one row per key per local day for every day of the data, so a TTL of two
# days always reaches the latest published row while never serving a stale one.
HISTORY_VIEWS = (
    ("carrier_history", carrier, 7, "carrier_delay_rate_7d", None),
    ("origin_history", origin, 1, "origin_delay_rate_1d", None),
    ("route_history", route, 28, "route_delay_rate_28d", "route_flights_28d"),
)
HISTORY_TTL = timedelta(days=2)
# Hourly observations; if an hour is missing, an observation up to 3 h old still describes
# the departure's weather better than nothing, older ones do not.
WEATHER_TTL = timedelta(hours=3)
# Planes are static attributes without a timestamp: they are stamped 1970-01-01 (before any
# flight) and never expire. In Feast a TTL of 0 means "lives forever", the longest TTL there is.
PLANES_TTL = timedelta(0)
# Same-day congestion (sources.RECENT_VIEWS: per origin, per destination, per carrier at its
# origin): departures that actually left in the last few hours, published
# `extract.feast.recent_horizon_hours` after the window ends (sources.recent_departures).
RECENT_WINDOW_HOURS = 3
# Each source has a row for every key and hour (zero departures included), so the latest row
# at a flight's departure is under 1 h old. The TTL only bites where rows are missing (before
# the data starts, after it ends, a gap in a user's data): there an older row would describe a
# window that closed hours ago, e.g. carry a busy evening's delays over a quiet night into the
# morning, so past one window length (3 h) the features are unknown (NaN) instead.
RECENT_TTL = timedelta(hours=RECENT_WINDOW_HOURS)
# The aircraft's previous departure (view `tail_recent`): rows are stamped departure + horizon,
# so a flight sees departures at least the horizon old. After a day without a NYC departure
# (the plane flew elsewhere, or sat in maintenance) that departure says nothing about this
# one's rotation: rows older than the TTL are not served, the features are unknown (NaN).
# The departure itself may then be up to TAIL_TTL + horizon before the flight.
TAIL_TTL = timedelta(hours=24)

PLANE_FEATURES = {
    "plane_year": Float64,
    "seats": Float64,
    "engines": Float64,
    "manufacturer": String,
    "engine": String,
}


def source_path(work_dir: Path, view_name: str) -> Path:
    return work_dir / "sources" / f"{view_name}.parquet"


def feature_views(work_dir: Path, spark: bool = False) -> list[FeatureView]:
    """Feature views whose parquet sources live under `work_dir/sources/` (read as
    SparkSources for Feast's Spark offline store when `spark`)."""

    def source(name: str, timestamp_field: str) -> Any:
        path = str(source_path(work_dir, name).resolve())
        if spark:
            from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
                SparkSource,
            )

            return SparkSource(
                name=f"{name}_source",
                path=path,
                file_format="parquet",
                timestamp_field=timestamp_field,
            )
        return FileSource(name=f"{name}_source", path=path, timestamp_field=timestamp_field)

    views = [
        FeatureView(
            name="origin_weather",
            entities=[origin],
            ttl=WEATHER_TTL,
            schema=[Field(name=column, dtype=Float64) for column in WEATHER_COLUMNS],
            source=source("origin_weather", "time_hour"),
        ),
        FeatureView(
            name="plane",
            entities=[tailnum],
            ttl=PLANES_TTL,
            schema=[Field(name=n, dtype=t) for n, t in PLANE_FEATURES.items()],
            source=source("plane", "registered_at"),
        ),
        FeatureView(
            name="tail_recent",
            entities=[tailnum],
            ttl=TAIL_TTL,
            schema=[
                Field(name=TAIL_PREV_DEP_DELAY, dtype=Float64),
                Field(name=TAIL_PREV_DEPARTED_AT, dtype=UnixTimestamp),
            ],
            source=source("tail_recent", "available_at"),
        ),
    ]
    for recent in RECENT_VIEWS:
        views.append(
            FeatureView(
                name=recent.name,
                entities=[ENTITY_BY_KEY[key] for key in recent.keys],
                ttl=RECENT_TTL,
                schema=[Field(name=column, dtype=Float64) for column in recent.columns],
                source=source(recent.name, "available_at"),
            )
        )
    for name, entity, _days, rate, count in HISTORY_VIEWS:
        fields = [Field(name=rate, dtype=Float64)]
        if count:
            fields.append(Field(name=count, dtype=Float64))
        views.append(
            FeatureView(
                name=name,
                entities=[entity],
                ttl=HISTORY_TTL,
                schema=fields,
                source=source(name, "published_at"),
            )
        )
    return views


def feature_refs(views: list[FeatureView]) -> list[str]:
    return [f"{view.name}:{field.name}" for view in views for field in view.features]
