"""The ASOF JOIN offline store (retrain.featurestore.asof) against Feast's own DuckDB join:
identical results on the fixture (the extract's whole frame) and on hand-made edge cases (TTL
boundary, NULL and unknown keys, ties broken by the created timestamp, field mappings, full
feature names), each also checked against values written out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from retrain.config.extract import OfflineStore, Window
from retrain.extraction import feast_features
from retrain.featurestore.asof import STORE_TYPE, AsofRetrievalJob

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS

FEAST_OWN = OfflineStore(asof_join=False)


def test_extracted_frame_is_identical_to_feasts_own_join(tmp_path: Path, flights_dir: Path) -> None:
    # given the fixture's five days, extracted once per offline store
    window = Window(start=dt.datetime(2013, 1, 1), end=dt.datetime(2013, 1, 6))
    frames = {}
    for name, offline in (("asof", None), ("feast", FEAST_OWN)):
        frames[name], _ = feast_features(
            flights_dir,
            tmp_path / name,
            window,
            PUBLISH_LAG_HOURS,
            DELAYED_ABOVE,
            RECENT_HORIZON_HOURS,
            offline,
        )
    # then every column, value and dtype is the same, and the join found values
    pd.testing.assert_frame_equal(frames["asof"], frames["feast"])
    assert len(frames["asof"]) > 1000
    assert frames["asof"]["temp"].notna().mean() > 0.9
    assert frames["asof"]["tail_prev_dep_delay"].notna().any()


T0 = pd.Timestamp("2024-03-01 12:00", tz="UTC")


def toy_store(work_dir: Path, offline: OfflineStore | None) -> object:
    """A Feast repo with one entity `k` and views covering the edge cases."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig
    from feast.repo_config import RegistryConfig, RepoConfig
    from feast.types import Float64

    from retrain.featurestore.asof import AsofDuckDBOfflineStoreConfig
    from retrain.featurestore.store import write_source_parquet

    work_dir.mkdir(parents=True, exist_ok=True)
    # rows of key "a" at T0-2h and T0 (value 1, 2), key "b" at T0-1h: value 3, and two rows at
    # the same instant T0 told apart by their created timestamp (5 is the later one)
    rows = pd.DataFrame(
        {
            "key": ["a", "a", "b", "b", "b"],
            "ts": [T0 - pd.Timedelta(hours=2), T0, T0 - pd.Timedelta(hours=1), T0, T0],
            "created": [T0, T0, T0, T0 + pd.Timedelta(minutes=1), T0 + pd.Timedelta(minutes=2)],
            "raw_value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    path = work_dir / "toy.parquet"
    write_source_parquet(rows, path)
    key = Entity(name="key", join_keys=["key"], value_type=ValueType.STRING)

    def source(name: str) -> FileSource:
        return FileSource(
            name=name,
            path=str(path),
            timestamp_field="ts",
            created_timestamp_column="created",
            field_mapping={"raw_value": "value"},
        )

    views = [
        FeatureView(
            name="fresh",
            entities=[key],
            ttl=dt.timedelta(hours=1),
            schema=[Field(name="value", dtype=Float64)],
            source=source("fresh_source"),
        ),
        FeatureView(
            name="forever",
            entities=[key],
            ttl=dt.timedelta(0),
            schema=[Field(name="value", dtype=Float64)],
            source=source("forever_source"),
        ),
    ]
    offline_config = (
        DuckDBOfflineStoreConfig() if offline is FEAST_OWN else AsofDuckDBOfflineStoreConfig()
    )
    config = RepoConfig(
        project="toy",
        provider="local",
        registry=RegistryConfig(path=str(work_dir / "registry.db"), cache_ttl_seconds=0),
        online_store=SqliteOnlineStoreConfig(path=str(work_dir / "online.db")),
        offline_store=offline_config,
        entity_key_serialization_version=3,
        repo_path=work_dir,
    )
    store = FeatureStore(config=config)
    store.apply([key, *views])
    return store


# (key, instant, fresh value, forever value); the TTL is one hour
CASES = [
    ("a", T0 - pd.Timedelta(hours=3), None, None),  # before any row
    ("a", T0 - pd.Timedelta(hours=2), 1.0, 1.0),  # exactly at the row's timestamp
    ("a", T0 - pd.Timedelta(minutes=59), None, 1.0),  # past the TTL: no value, never older
    ("a", T0 - pd.Timedelta(hours=1), 1.0, 1.0),  # exactly at timestamp + TTL: still served
    ("a", T0 - pd.Timedelta(microseconds=1), None, 1.0),
    ("a", T0, 2.0, 2.0),
    ("b", T0 - pd.Timedelta(minutes=30), 3.0, 3.0),
    ("b", T0 + pd.Timedelta(minutes=5), 5.0, 5.0),  # tie at T0: the later created row
    ("z", T0, None, None),  # unknown key
    (None, T0, None, None),  # NULL key never matches
    ("a", T0, 2.0, 2.0),  # a duplicate entity row comes back twice
]


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    entity_df = pd.DataFrame(
        {
            "row": range(len(CASES)),
            "key": pd.Series([c[0] for c in CASES], dtype=object),
            "event_timestamp": [c[1] for c in CASES],
        }
    )
    results = {}
    for name, offline in (("asof", None), ("feast", FEAST_OWN)):
        store = toy_store(tmp_path_factory.mktemp(name), offline)
        job = store.get_historical_features(  # type: ignore[attr-defined]
            entity_df=entity_df,
            features=["fresh:value", "forever:value"],
            full_feature_names=True,
        )
        if name == "asof":
            assert isinstance(job, AsofRetrievalJob)  # the native path, not the fallback
            assert store.config.offline_store.type == STORE_TYPE  # type: ignore[attr-defined]
        results[name] = job.to_df().sort_values("row").reset_index(drop=True)
    return results


def test_edge_cases_match_the_hand_written_values(toy_results: dict[str, pd.DataFrame]) -> None:
    joined = toy_results["asof"]
    assert list(joined.columns) == [
        "row",
        "key",
        "event_timestamp",
        "fresh__value",
        "forever__value",
    ]
    expected_fresh = pd.Series([c[2] for c in CASES], dtype="float64", name="fresh__value")
    expected_forever = pd.Series([c[3] for c in CASES], dtype="float64", name="forever__value")
    pd.testing.assert_series_equal(joined["fresh__value"], expected_fresh)
    pd.testing.assert_series_equal(joined["forever__value"], expected_forever)


def test_edge_cases_equal_feasts_own_join(toy_results: dict[str, pd.DataFrame]) -> None:
    pd.testing.assert_frame_equal(toy_results["asof"], toy_results["feast"])


def test_what_asof_does_not_cover_goes_to_feasts_join(tmp_path: Path) -> None:
    # given a request filtering by created timestamp (not part of the ASOF query)
    store = toy_store(tmp_path, None)
    entity_df = pd.DataFrame(
        {"key": ["b", "b"], "event_timestamp": [T0, T0 + pd.Timedelta(minutes=5)]}
    )
    job = store.get_historical_features(  # type: ignore[attr-defined]
        entity_df=entity_df, features=["forever:value"], filter_by_created_timestamp=True
    )
    # then Feast's own join answers: at T0 neither T0 row was created yet, so the T0-1h one
    assert not isinstance(job, AsofRetrievalJob)
    values = job.to_df().sort_values("event_timestamp")["value"].tolist()
    assert values == [3.0, 5.0]
