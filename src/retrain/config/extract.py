"""`extract` section of params.yaml: where features come from and for which time window."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from retrain.config.base import DEFAULT_TIMEZONE, ProjectPath, Section, TimeZone


class Window(Section):
    """A half-open time window [start, end).

    Naive dates/times are read in `timezone` (the bundled flights are scheduled in New York
    local time, so a window of 2013-01-01..2014-01-01 in America/New_York holds exactly the
    2013 flights even though their UTC event times spill into 2014). In params.yaml a window
    without `timezone` inherits `base.timezone` (see retrain.config.Params). `bounds_utc()`
    gives the bounds every stage compares `base.event_time` (UTC) against.
    """

    start: dt.datetime
    end: dt.datetime
    timezone: TimeZone = DEFAULT_TIMEZONE

    @model_validator(mode="after")
    def _start_before_end(self) -> Window:
        start, end = self.bounds_utc()
        if start >= end:
            raise ValueError(f"window start {self.start} must be before end {self.end}")
        return self

    def bounds_utc(self) -> tuple[dt.datetime, dt.datetime]:
        """(start, end) as timezone-aware UTC datetimes (pandas compares them directly)."""

        def to_utc(value: dt.datetime) -> dt.datetime:
            if value.tzinfo is None:
                value = value.replace(tzinfo=ZoneInfo(self.timezone))
            return value.astimezone(dt.UTC)

        return to_utc(self.start), to_utc(self.end)

    def label(self) -> str:
        def text(value: dt.datetime) -> str:
            midnight = (value.hour, value.minute, value.second) == (0, 0, 0)
            return f"{value:%Y-%m-%d}" if midnight else f"{value:%Y-%m-%d %H:%M}"

        return f"{text(self.start)}..{text(self.end)} ({self.timezone})"


class OfflineStore(Section):
    """Feast's offline store for the point-in-time join: chosen here, not in code."""

    # duckdb: in-process (the default). spark: Feast's Spark offline store (pyspark + a Java
    # runtime; local mode unless spark_conf names a cluster); the same parquet sources are
    # read as SparkSources. Results are equal (tests/featurestore/test_spark.py).
    type: Literal["duckdb", "spark"] = "duckdb"
    # duckdb: run the point-in-time join as DuckDB's native ASOF JOIN, one per feature view
    # (retrain.featurestore.asof, a subclass of Feast's DuckDB offline store; results identical
    # to Feast's own join, ~10x faster on the bundled year, bench/README.md). false: Feast's
    # own DuckDB join (joins on the key, then keeps the latest row per entity row).
    asof_join: bool = True
    # Spark session settings (type spark), e.g. {spark.master: "spark://host:7077"}; the
    # session time zone is always UTC.
    spark_conf: dict[str, str] = Field(
        default_factory=lambda: {"spark.master": "local[*]", "spark.ui.enabled": "false"}
    )


class FeastOptions(Section):
    # Feast's registry, SQLite online store and parquet sources live here (gitignored).
    # The CLI's --feast-dir overrides it.
    work_dir: ProjectPath = Path(".feast")
    # Daily history aggregates for day D are published at local midnight after D plus this
    # many hours, when nearly every flight of D has landed (outcome known). In 2013, at 5 h an
    # estimated 239 flights (0.07%, heavy delays) were still in the air, at 6 h 82, at 8 h 29;
    # and no departure is scheduled before 05:00, so 5 h costs no flight a day of freshness.
    history_publish_lag_hours: int = Field(5, ge=0, le=48)
    # A past flight counts as delayed in the history rates when arr_delay > this (minutes),
    # and a departed one in the same-day congestion stats when dep_delay > this.
    delayed_above_minutes: float = 15.0
    # Same-day congestion (view `origin_recent`) is predicted this many hours before the
    # scheduled departure: a flight sees only departures that happened at least this long
    # before it. At least 1 h, because a flight may leave early (2013: up to 43 min) and must
    # never see its own departure.
    recent_horizon_hours: int = Field(2, ge=1, le=24)
    offline_store: OfflineStore = OfflineStore()
    # Your own Feast repository's feature_store.yaml (relative to the project): its registry,
    # online_store, offline_store, provider and project replace the defaults (file registry and
    # SQLite online store in work_dir, offline_store above), so a team picks any store Feast
    # supports without code changes. Relative paths in it are relative to its directory;
    # ${VARS} are expanded as Feast does. The bundled views and parquet sources stay as they
    # are. null: the defaults.
    repo_config: ProjectPath | None = None


class TableOptions(Section):
    # The user's table (parquet or CSV); required when source is `table`. Keep it under
    # data/ so the extract stage's `data` dependency tracks it. It must resolve (symlinks and
    # `..` followed) inside the project (the directory of params.yaml, or the working
    # directory) or inside a directory listed in $RETRAIN_DATA_ROOTS (os.pathsep-separated).
    path: Path | None = None
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, name: str) -> str:
        try:
            codecs.lookup(name)
        except LookupError:
            raise ValueError(f"unknown text encoding {name!r}; e.g. utf-8, latin-1") from None
        return name


class InputLimits(Section):
    """Caps on the user's table, checked while streaming it (before pandas parses it).

    Defaults fit a table of a few million rows; raise a cap in params.yaml for a bigger one.
    """

    # Bytes on disk (the compressed size for .csv.gz / .csv.zip).
    max_file_bytes: int = Field(1024**3, ge=1)
    # Bytes after decompression (CSV), or the uncompressed column data (parquet metadata).
    max_decompressed_bytes: int = Field(2 * 1024**3, ge=1)
    max_rows: int = Field(20_000_000, ge=1)
    max_columns: int = Field(2_000, ge=1)
    # Longest CSV line (bytes, counted while decompressing: a gzip bomb is one huge line) and
    # longest text value (characters, after parsing; also parquet).
    max_line_bytes: int = Field(4 * 1024**2, ge=1)
    max_field_chars: int = Field(1024**2, ge=1)


class ExtractSection(Section):
    source: Literal["feast", "table"] = "feast"
    window: Window = Window(start=dt.datetime(2013, 1, 1), end=dt.datetime(2014, 1, 1))
    feast: FeastOptions = FeastOptions()
    table: TableOptions = TableOptions()
    limits: InputLimits = InputLimits()

    @model_validator(mode="after")
    def _table_needs_path(self) -> ExtractSection:
        if self.source == "table" and self.table.path is None:
            raise ValueError("source 'table' needs extract.table.path (parquet or CSV file)")
        return self
