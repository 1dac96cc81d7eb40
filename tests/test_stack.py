"""`retrain stack`: the local team stack (PostgreSQL, moto's S3, `mlflow server`).

The fast tests check the refusals and the pid bookkeeping; the server test starts the real
stack, runs the whole pipeline (`retrain init` on a public table, `dvc repro` with the Optuna
study in PostgreSQL) and the promotion against it, and stops it by pid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline_support import tool_env
from retrain.cli import main
from retrain.errors import UserError
from retrain.stack import PG_BIN_ENV, Stack, exports, find_pg_bin, pid_alive

ROOT = Path(__file__).resolve().parents[1]


def test_missing_postgres_binaries_name_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        find_pg_bin(env={}, pattern=str(tmp_path / "nothing" / "*" / "bin"))
    assert "initdb" in raised.value.message
    assert "apt-get install -y postgresql" in (raised.value.hint or "")
    with pytest.raises(UserError, match="not found in"):
        find_pg_bin(env={PG_BIN_ENV: str(tmp_path)})


def test_the_highest_postgres_version_is_found(tmp_path: Path) -> None:
    for version in ("9", "15", "13"):
        directory = tmp_path / version / "bin"
        directory.mkdir(parents=True)
        for name in ("initdb", "pg_ctl"):
            (directory / name).write_text("")
    (tmp_path / "16" / "bin").mkdir(parents=True)  # client only: no initdb
    assert find_pg_bin(env={}, pattern=str(tmp_path / "*" / "bin")) == tmp_path / "15" / "bin"
    assert find_pg_bin(env={PG_BIN_ENV: str(tmp_path / "9" / "bin")}) == tmp_path / "9" / "bin"


def test_env_of_a_stack_that_is_not_up_says_how_to_start_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UserError, match="not running") as raised:
        Stack(tmp_path / "none").env()
    assert "make stack" in (raised.value.hint or "")
    assert main(["stack", "env", "--dir", str(tmp_path / "none")]) != 0
    assert main(["stack", "down", "--dir", str(tmp_path / "none")]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_down_never_signals_a_pid_that_now_runs_something_else(tmp_path: Path) -> None:
    # given: a pid file naming a live process that is not the stack's (this test process)
    stack = Stack(tmp_path)
    stack.pid_file("s3").write_text(f"{os.getpid()}\n")
    assert pid_alive(os.getpid()) and not pid_alive(os.getpid(), "moto_server -H")
    # when / then: down leaves it alone (we are still running) and forgets the stale file
    assert stack.down() == []
    assert not stack.pid_file("s3").exists()


def test_exports_are_shell_quoted() -> None:
    text = exports({"A": "x y", "B": "s3://b/p"})
    assert "export A='x y'" in text and "export B=s3://b/p" in text


# -- the real stack --------------------------------------------------------------------------


def _postgres_or_skip() -> None:
    try:
        find_pg_bin()
    except UserError:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "postgresql"], capture_output=True, check=False
            )
        try:
            find_pg_bin()
        except UserError as exc:
            pytest.skip(f"NO POSTGRESQL: the team-stack test cannot run here: {exc}")


@pytest.fixture
def stack() -> Iterator[tuple[Stack, dict[str, str]]]:
    pytest.importorskip(
        "psycopg", reason="psycopg missing: install the team extras (make sync-team)"
    )
    pytest.importorskip("moto", reason="moto missing: install the team extras (make sync-team)")
    _postgres_or_skip()
    # pytest's tmp dirs are private (0700): as root, the postgres user could not reach them
    where = Path(tempfile.mkdtemp(prefix="retrain-stack-"))
    where.chmod(0o755)
    stack = Stack(where / ".stack")
    try:
        yield stack, stack.up()
    finally:
        stack.down()
        shutil.rmtree(where, ignore_errors=True)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.server
@pytest.mark.integration
@pytest.mark.slow
def test_pipeline_and_promote_against_the_team_stack(
    stack: tuple[Stack, dict[str, str]], tmp_path: Path
) -> None:
    import boto3
    from mlflow import MlflowClient
    from sklearn.datasets import load_breast_cancer

    server, urls = stack
    pids = {name: server.read_pid(name) for name in ("postgres", "s3", "mlflow")}
    assert all(server.running().values()), pids
    assert server.up() == urls  # idempotent: nothing restarted
    assert {name: server.read_pid(name) for name in pids} == pids

    # given: a project on a public table whose tracking, registry and study are the stack's
    env = tool_env({k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | urls)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    load_breast_cancer(as_frame=True).frame.to_csv(repo / "data" / "cancer.csv", index=False)
    _run(["retrain", "init", "--table", "data/cancer.csv", "--target", "target"], repo, env)
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["budget"] = {"trials": 3, "seconds": 60}
    params["train"]["storage"] = urls["RETRAIN_OPTUNA_STORAGE"]  # the study in PostgreSQL
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"]):
        _run(args, repo, env)
    _run(["git", "commit", "-q", "-m", "init"], repo, env)

    # when: the whole pipeline, then the promotion of what it registered
    done = _run(["dvc", "repro"], repo, env)
    assert "Running stage 'push'" in done.stdout, done.stdout
    record = json.loads((repo / "registry.json").read_text())
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "pipeline ran"], repo, env)
    promoted = _run(["retrain", "promote", "--ref", "HEAD"], repo, env)

    # then: the champion is that version on the server, its artifact in S3, the study in PG
    assert f"→ v{record['version']}" in promoted.stdout + promoted.stderr
    client = MlflowClient(urls["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias(record["model"], "champion")
    assert champion.version == record["version"]
    s3 = boto3.client(
        "s3",
        endpoint_url=urls["AWS_ENDPOINT_URL"],
        region_name=urls["AWS_DEFAULT_REGION"],
        aws_access_key_id=urls["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=urls["AWS_SECRET_ACCESS_KEY"],
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="retrain-stack").get("Contents", [])]
    assert any(key.endswith("model.skops") for key in keys), keys
    import optuna

    storage = optuna.storages.RDBStorage(urls["RETRAIN_OPTUNA_STORAGE"])
    studies = optuna.get_all_study_summaries(storage)
    assert sum(s.n_trials for s in studies) >= 3, studies

    # and: down stops exactly the stack's processes
    server.down()
    assert not any(server.running().values())
    deadline = time.monotonic() + 30  # postgres removes its pid file just before it exits
    while any(pid_alive(pid) for pid in pids.values() if pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(pid_alive(pid) for pid in pids.values() if pid), pids


@pytest.mark.server
@pytest.mark.integration
def test_s3_objects_survive_down_and_up(tmp_path: Path) -> None:
    pytest.importorskip("moto", reason="moto missing: install the team extras (make sync-team)")
    import boto3

    stack = Stack(tmp_path / ".stack")
    try:
        # given: a running S3 server holding objects in two buckets, keys with slashes/spaces
        urls = stack.up(s3_only=True)

        def client() -> object:
            return boto3.client(
                "s3",
                endpoint_url=urls["AWS_ENDPOINT_URL"],
                region_name=urls["AWS_DEFAULT_REGION"],
                aws_access_key_id=urls["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=urls["AWS_SECRET_ACCESS_KEY"],
            )

        def contents(s3: object) -> dict[tuple[str, str], bytes]:
            found = {}
            for bucket in s3.list_buckets()["Buckets"]:  # type: ignore[attr-defined]
                listed = s3.list_objects_v2(Bucket=bucket["Name"])  # type: ignore[attr-defined]
                for item in listed.get("Contents", []):
                    body = s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"]  # type: ignore[attr-defined]
                    found[(bucket["Name"], item["Key"])] = body.read()
            return found

        s3 = client()
        s3.create_bucket(Bucket="second")  # type: ignore[attr-defined]
        objects = {
            ("retrain-stack", "dvc/files/md5/ab/cdef"): bytes(range(256)) * 40,
            ("retrain-stack", "mlflow/1/run a/artifacts/model.skops"): b"model",
            ("retrain-stack", "gone-after-second-down"): b"x",
            ("second", "top%level.txt"): b"",
        }
        for (bucket, key), body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)  # type: ignore[attr-defined]
        pid = stack.read_pid("s3")

        # when: the stack goes down (moto's memory is lost) and comes up again
        stopped = stack.down()
        assert any("4 object(s) saved" in line for line in stopped), stopped
        assert pid is not None and not pid_alive(pid, "moto")
        urls = stack.up(s3_only=True)
        assert stack.read_pid("s3") != pid  # a new server process

        # then: the new server holds exactly the same objects, byte for byte
        assert contents(client()) == objects

        # and a deletion before the next down stays deleted (the copy is replaced, not merged)
        client().delete_object(Bucket="retrain-stack", Key="gone-after-second-down")  # type: ignore[attr-defined]
        stack.down()
        urls = stack.up(s3_only=True)  # the old port may still be taken: maybe a new one
        expected = {k: v for k, v in objects.items() if k[1] != "gone-after-second-down"}
        assert contents(client()) == expected
    finally:
        stack.down()
