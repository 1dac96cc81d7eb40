"""The bundled definitions on Feast's Spark offline store (local mode) give DuckDB's results.

Chosen by configuration only (`extract.feast.offline_store.type: spark`). Slow: a Spark session
plus one Spark job per view (~1-5 min on a busy 2-core box, whatever the row count).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from retrain.config.extract import OfflineStore
from retrain.errors import UserError
from retrain.featurestore.store import FlightFeatureStore

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS
from .test_store import entity_frame

SPARK = OfflineStore(
    type="spark", spark_conf={"spark.master": "local[1]", "spark.ui.enabled": "false"}
)


def _join(store: FlightFeatureStore, flights_dir: Path, flights: pd.DataFrame) -> pd.DataFrame:
    store.build(flights_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS)
    # One day of requests; the sources hold every fixture flight (history before that day).
    day = flights["event_time"].dt.date == pd.Timestamp("2013-01-03").date()
    assert day.sum() > 10
    joined = store.historical_features(entity_frame(flights[day]))
    # Timestamps compared as instants (Spark returns nanoseconds, DuckDB the sources' micros)
    for column in joined.select_dtypes("datetimetz").columns:
        joined[column] = joined[column].astype("datetime64[ns, UTC]")
    return joined.sort_values("flight_id").reset_index(drop=True)


@pytest.mark.integration
@pytest.mark.slow
def test_spark_offline_store_equals_duckdb_on_one_day(
    tmp_path: Path, flights_dir: Path, flights: pd.DataFrame
) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (team dependency group) — Spark store NOT tested")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (apt-get install openjdk-17-jre-headless) — Spark NOT tested")
    # Given the same data, once with the default DuckDB store and once with Spark by config
    duck = _join(FlightFeatureStore(tmp_path / "duck"), flights_dir, flights)
    spark_store = FlightFeatureStore(tmp_path / "spark", SPARK)
    spark = _join(spark_store, flights_dir, flights)
    # Then the store really is Spark, and every feature of every flight is equal
    assert spark_store.store.config.offline_store.type == "spark"
    assert set(spark.columns) == set(duck.columns)
    pd.testing.assert_frame_equal(spark[duck.columns], duck, check_dtype=False)
    # (on values that exist: most numeric features of that day are filled)
    assert duck.select_dtypes("number").notna().to_numpy().mean() > 0.5


def test_spark_without_java_or_pyspark_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Spark store on a machine without Java
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    if importlib.util.find_spec("pyspark") is None:
        match = "pyspark is not installed"
    else:
        match = "no Java runtime"
    # Then opening it names the missing part and the params key
    with pytest.raises(UserError, match=match) as err:
        FlightFeatureStore(tmp_path, SPARK).repo_config()
    assert "offline_store" in str(err.value)
    # And the default store needs neither
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig

    default = FlightFeatureStore(tmp_path).repo_config().offline_store
    assert isinstance(default, DuckDBOfflineStoreConfig)  # DuckDB (the ASOF subclass)
