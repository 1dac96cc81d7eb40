"""A Feast offline store whose point-in-time join is DuckDB's native `ASOF JOIN`.

Feast's DuckDB offline store (via Ibis) joins each feature view to the entity rows on the key
first and keeps the latest row per entity row afterwards (a window function over the whole
key match): with few keys (3 origins, 16 carriers) the intermediate result is every entity row
times every earlier row of its key. `ASOF JOIN` instead walks both sides sorted by time per key
and emits one row per entity row: the same answer (the latest feature row at or before the
entity's timestamp), O(n log n).

Semantics kept exactly as Feast's (`feast.infra.offline_stores.ibis.point_in_time_join`):
- a feature row matches when every join key is equal (a NULL key never matches) and its
  timestamp is at or before the entity row's `event_timestamp`;
- of the matches, the latest timestamp wins (ties broken by the created timestamp, latest
  first);
- a view with a TTL (non-zero) serves the row only while `timestamp + ttl >= event_timestamp`
  (in UTC); the latest row being older means no value (never an older row, which would be
  older still);
- every entity row comes back once with all its columns, features after them, named
  `feature` or `view__feature` (`full_feature_names`), field mappings applied.

Anything this store does not handle natively (an SQL entity query, sources other than local
parquet files, `filter_by_created_timestamp` on a view with a created timestamp, Substrait
on-demand views) goes to the parent `DuckDBOfflineStore` unchanged, so the store is a drop-in
replacement. Selected by its class path in Feast's `offline_store.type` (see store.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
from feast.data_format import ParquetFormat
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.on_demand_feature_view import OnDemandFeatureView
from pydantic import StrictStr

if TYPE_CHECKING:
    from feast.feature_view import FeatureView
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.repo_config import RepoConfig
    from feast.saved_dataset import SavedDatasetStorage

# Feast finds a custom offline store by this class path (config class = store class + "Config").
STORE_TYPE = "retrain.featurestore.asof.AsofDuckDBOfflineStore"
ENTITY_TABLE = "__asof_entities"
ROW_COLUMN = "__asof_row"
TS_COLUMN = "__asof_ts"


class AsofDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: StrictStr = STORE_TYPE


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_local_parquet(source: Any) -> bool:
    if type(source) is not FileSource:  # subclasses may read differently
        return False
    fmt = source.file_format
    if fmt is not None and not isinstance(fmt, ParquetFormat):
        return False
    if fmt is None and not source.path.endswith(".parquet"):
        return False
    if "://" in source.path and not source.path.startswith("file://"):
        return False
    # one file (a directory of parts is left to Feast's reader)
    return not Path(source.path.removeprefix("file://")).is_dir()


class ViewPlan:
    """One feature view's part of the query: its source subquery and selected columns."""

    def __init__(self, view: FeatureView, refs: list[str], full_feature_names: bool) -> None:
        source = view.batch_source
        self.name = view.projection.name_to_use()
        prefix = f"{self.name}:"
        self.features = [ref.split(":", 1)[1] for ref in refs if ref.startswith(prefix)]
        base_name = view.projection.name_alias or view.name
        self.output = [f"{base_name}__{f}" if full_feature_names else f for f in self.features]
        # feature-table column -> entity column
        self.keys = dict(
            view.projection.join_key_map or {e.name: e.name for e in view.entity_columns}
        )
        self.timestamp = source.timestamp_field
        self.created = source.created_timestamp_column or None
        self.ttl: dt.timedelta | None = view.ttl or None  # Feast: a TTL of 0 never expires
        self.path = source.path.removeprefix("file://")
        # Feast renames source column `old` to `new` for field_mapping {old: new}.
        self.renamed = dict(source.field_mapping)

    def source_column(self, name: str) -> str:
        for old, new in self.renamed.items():
            if new == name:
                return old
        return name

    def subquery(self) -> str:
        ts = f"CAST({quote(self.source_column(self.timestamp))} AS TIMESTAMPTZ)"
        columns = [f"{quote(self.source_column(k))} AS {quote(k)}" for k in self.keys]
        columns.append(f"{ts} AS {quote(TS_COLUMN)}")
        columns += [f"{quote(self.source_column(f))} AS {quote(f)}" for f in self.features]
        query = f"SELECT {', '.join(columns)} FROM read_parquet({_literal(self.path)})"
        if self.created:
            # Several rows of one key at one instant: Feast keeps the latest created one.
            created = f"CAST({quote(self.source_column(self.created))} AS TIMESTAMPTZ)"
            keys = ", ".join([*(quote(self.source_column(k)) for k in self.keys), ts])
            query += f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {created} DESC) = 1"
        return query


def view_query(plan: ViewPlan, event_timestamp: str) -> str:
    """One view's features for every entity row, in entity row order: an ASOF LEFT JOIN of
    the entity rows' keys and timestamps (only those: narrow rows sort fast) to the source."""
    event = quote(event_timestamp)
    left = [quote(ROW_COLUMN), event, *(quote(entity) for entity in plan.keys.values())]
    on = [f"l.{quote(entity)} = s.{quote(column)}" for column, entity in plan.keys.items()]
    on.append(f"l.{event} >= s.{quote(TS_COLUMN)}")
    fresh = None
    if plan.ttl is not None:
        micros = plan.ttl // dt.timedelta(microseconds=1)
        fresh = f"s.{quote(TS_COLUMN)} + INTERVAL ({micros}) MICROSECOND >= l.{event}"
    selected = []
    for feature, output in zip(plan.features, plan.output, strict=True):
        value = f"s.{quote(feature)}"
        if fresh:
            value = f"CASE WHEN {fresh} THEN {value} END"
        selected.append(f"{value} AS {quote(output)}")
    return (
        f"SELECT {', '.join(selected)} FROM (SELECT {', '.join(left)} FROM {ENTITY_TABLE}) AS l "
        f"ASOF LEFT JOIN ({plan.subquery()}) AS s ON {' AND '.join(on)} "
        f"ORDER BY l.{quote(ROW_COLUMN)}"
    )


def entity_query() -> str:
    return (
        f"SELECT * EXCLUDE ({quote(ROW_COLUMN)}) FROM {ENTITY_TABLE} ORDER BY {quote(ROW_COLUMN)}"
    )


class AsofRetrievalJob(RetrievalJob):
    """Runs the ASOF query when the result is asked for (as Feast's jobs do)."""

    def __init__(
        self,
        queries: list[str],
        entities: pa.Table,
        on_demand_feature_views: list[OnDemandFeatureView],
        full_feature_names: bool,
        metadata: RetrievalMetadata,
        repo_path: str,
    ) -> None:
        super().__init__()
        self.queries = queries  # one per feature view
        self._entities = entities
        self._odfvs = on_demand_feature_views
        self._full_feature_names = full_feature_names
        self._metadata = metadata
        self._repo_path = repo_path

    def to_sql(self) -> str:
        return ";\n".join([entity_query(), *self.queries])

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        """The entity rows, then each view's columns side by side (every query returns one
        row per entity row, ordered by the entity row's position)."""
        with duckdb.connect(":memory:") as con:
            con.execute("SET TimeZone = 'UTC'")  # as Ibis' DuckDB backend: TTLs in UTC
            con.register(ENTITY_TABLE, self._entities)
            table = con.sql(entity_query()).to_arrow_table()
            for query in self.queries:
                features = con.sql(query).to_arrow_table()
                if features.num_rows != table.num_rows:  # an ASOF LEFT JOIN never does this
                    raise RuntimeError(f"{features.num_rows} rows for {table.num_rows} entities")
                for field, column in zip(features.schema, features.columns, strict=True):
                    table = table.append_column(field, column)
        return table

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        return self._metadata

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        import ibis
        from feast.infra.offline_stores import duckdb as feast_duckdb

        writer = feast_duckdb._write_data_source  # the parent store's writer
        source = storage.to_data_source()
        writer(
            ibis.memtable(self.to_arrow()), source, self._repo_path, "overwrite", allow_overwrite
        )


def _entity_frame(entity_df: pd.DataFrame, event_timestamp: str) -> pd.DataFrame:
    """Feast's reading of the entity frame: string/object timestamps parsed as UTC."""
    frame = entity_df.copy()
    times = frame[event_timestamp].infer_objects()
    if pd.api.types.is_string_dtype(times) or pd.api.types.is_object_dtype(times):
        times = pd.to_datetime(times, utc=True)
    frame[event_timestamp] = times
    return frame


class AsofDuckDBOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB offline store with `get_historical_features` as one ASOF JOIN query."""

    @staticmethod
    def get_historical_features(  # type: ignore[override]
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        native = (
            isinstance(entity_df, pd.DataFrame)
            and all(_is_local_parquet(view.batch_source) for view in feature_views)
            and not any(odfv.mode == "substrait" for odfv in odfvs)
            and not (
                filter_by_created_timestamp
                and any(view.batch_source.created_timestamp_column for view in feature_views)
            )
        )
        if not native:
            return DuckDBOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names,
                filter_by_created_timestamp,
            )
        assert isinstance(entity_df, pd.DataFrame)
        event_timestamp = infer_event_timestamp_from_entity_df(dict(entity_df.dtypes))
        frame = _entity_frame(entity_df, event_timestamp)
        plans = [ViewPlan(view, feature_refs, full_feature_names) for view in feature_views]
        entity_columns = [str(c) for c in frame.columns]
        entities = pa.Table.from_pandas(frame, preserve_index=False)
        # DuckDB (and so Feast's path through Ibis) holds timestamps in microseconds.
        schema = pa.schema(
            [
                field.with_type(pa.timestamp("us", field.type.tz))
                if pa.types.is_timestamp(field.type) and field.type.unit == "ns"
                else field
                for field in entities.schema
            ]
        )
        entities = entities.cast(schema, safe=False)
        entities = entities.append_column(ROW_COLUMN, pa.array(range(len(frame)), pa.int64()))
        times = frame[event_timestamp]
        metadata = RetrievalMetadata(
            features=feature_refs,
            keys=[c for c in entity_columns if c != event_timestamp],
            min_event_timestamp=times.min().to_pydatetime() if len(times) else None,
            max_event_timestamp=times.max().to_pydatetime() if len(times) else None,
        )
        return AsofRetrievalJob(
            [view_query(plan, event_timestamp) for plan in plans],
            entities,
            [odfv for odfv in odfvs if odfv.mode != "substrait"],
            full_feature_names,
            metadata,
            str(config.repo_path),
        )
