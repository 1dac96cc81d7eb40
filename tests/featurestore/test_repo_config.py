"""Feast stores by configuration: `extract.feast.repo_config` names a feature_store.yaml whose
registry, online store, offline store and project the store uses instead of the defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from retrain.cli import main
from retrain.errors import UserError
from retrain.featurestore.asof import AsofRetrievalJob
from retrain.featurestore.store import FlightFeatureStore

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS
from .test_store import entity_frame

FLIGHT = "origin=LGA,dest=ATL,carrier=DL,tailnum=N11206"

# A team's own Feast repository: registry and SQLite online store elsewhere (relative to the
# file), another project name, and Feast's own DuckDB offline store instead of the default.
TEAM_YAML = """\
project: team_flights
provider: local
registry:
  path: registries/team.db
  cache_ttl_seconds: 0
online_store:
  type: sqlite
  path: ${TEAM_ONLINE_DIR}/serving.db
offline_store:
  type: duckdb
entity_key_serialization_version: 3
"""


@pytest.fixture(scope="module")
def team(
    tmp_path_factory: pytest.TempPathFactory, flights_dir: Path, flights: pd.DataFrame
) -> Iterator[tuple[Path, FlightFeatureStore]]:
    root = tmp_path_factory.mktemp("team")
    (root / "repo").mkdir()
    (root / "repo" / "feature_store.yaml").write_text(TEAM_YAML)
    os.environ["TEAM_ONLINE_DIR"] = "online"  # expanded as Feast does
    store = FlightFeatureStore(root / "work", None, root / "repo" / "feature_store.yaml")
    store.build(flights_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS)
    yield root, store
    del os.environ["TEAM_ONLINE_DIR"]


def test_the_files_settings_are_used(team: tuple[Path, FlightFeatureStore]) -> None:
    root, store = team
    config = store.store.config
    # the registry lives where the file says (relative to the file), not in the work dir
    assert (root / "repo" / "registries" / "team.db").is_file()
    assert not (root / "work" / "registry.db").exists()
    assert config.project == "team_flights"
    assert {v.name for v in store.store.list_feature_views()} >= {"origin_weather", "plane"}
    assert config.offline_store.type == "duckdb"
    assert store.online_store_path() == root / "repo" / "online" / "serving.db"
    # the sources are still the project's parquet files in the work dir
    assert len(list((root / "work" / "sources").glob("*.parquet"))) == 9


def test_the_point_in_time_join_runs_on_the_configured_offline_store(
    team: tuple[Path, FlightFeatureStore], flights: pd.DataFrame
) -> None:
    _, store = team
    from retrain.featurestore import definitions

    views = definitions.feature_views(store.work_dir)
    job = store.store.get_historical_features(
        entity_df=entity_frame(flights), features=definitions.feature_refs(views)
    )
    assert not isinstance(job, AsofRetrievalJob)  # Feast's own DuckDB store, as configured
    joined = store.historical_features(entity_frame(flights))
    assert len(joined) == len(flights)
    assert joined["temp"].notna().mean() > 0.9


@pytest.mark.integration
@pytest.mark.slow
def test_materialize_and_online_use_the_configured_online_store(
    team: tuple[Path, FlightFeatureStore],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given params pointing extract.feast at the team's feature_store.yaml
    root, _ = team
    monkeypatch.chdir(root)
    (root / "params.yaml").write_text(
        "extract:\n  feast:\n    work_dir: work\n    repo_config: repo/feature_store.yaml\n"
    )
    base = ["features", "--params", "params.yaml"]
    end = "2013-01-05T03:30:00+00:00"
    # when the CLI materialises and reads the online store
    assert main([*base, "--materialize", "--end", end, "--online", "--flight", FLIGHT]) == 0
    served = json.loads(capsys.readouterr().out.splitlines()[0])
    # then the values come from the SQLite file the yaml names, and none was made in work/
    assert (root / "repo" / "online" / "serving.db").is_file()
    assert not (root / "work" / "online.db").exists()
    assert served["seats"] is not None and served["temp"] is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("project: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "not a mapping"),
        ("online_store:\n  type: no_such_store\n", "not a usable Feast configuration"),
        ("offline_store:\n  type: nosuch\n", "not a usable Feast configuration"),
        ("entity_key_serialization_version: x\n", "not a usable Feast configuration"),
    ],
)
def test_a_bad_repo_config_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "feature_store.yaml"
    if content is not None:
        path.write_text(content)
    store = FlightFeatureStore(tmp_path / "work", None, path)
    with pytest.raises(UserError) as caught:
        store.repo_config()
    assert message in str(caught.value)
    assert "extract.feast.repo_config" in str(caught.value)  # the fix names the key
    assert not (tmp_path / "work").exists()


def test_repo_config_must_stay_in_the_project() -> None:
    from pydantic import ValidationError

    from retrain.config.extract import FeastOptions

    assert FeastOptions(repo_config="feast_repo/feature_store.yaml").repo_config == Path(
        "feast_repo/feature_store.yaml"
    )
    with pytest.raises(ValidationError):
        FeastOptions(repo_config="/etc/feature_store.yaml")
