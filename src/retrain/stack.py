"""`retrain stack up|down|env|status`: a local team stack from real packages, on 127.0.0.1.

PostgreSQL (Debian's server binaries, `initdb` + `pg_ctl` on a project-local data directory),
an S3-compatible server (`moto_server`, from the locked `team` group), and an `mlflow server`
with its runs in PostgreSQL and its artifacts proxied to S3. Everything lives in `.stack/`
(git-ignored): data, logs, `ports.json`, and one pid file per process. `up` is idempotent (a
running part is left alone, a dead one restarted on its old port when free); `down` stops only
the processes whose pid files it wrote, after checking each pid still runs the command it
started. `env` prints the variables to export (tracking URI, S3 endpoint and keys, the Optuna
storage URL, the DVC remote URL).

Root: PostgreSQL's `initdb` refuses to run as root, so as root the server runs as the
`postgres` user Debian's package creates (`runuser -u postgres`), on a data directory owned by it.

The S3 server (moto) keeps its objects in memory, so `down` first saves every bucket's objects
to `.stack/s3/` (through the S3 API, before moto is stopped; the previous copy is replaced only
once the new one is complete) and `up` uploads them again into a freshly started server: MLflow
artifacts and the DVC remote survive a restart, as the PostgreSQL data does. Object bodies and
keys are kept, not versions, ACLs or metadata (neither MLflow nor DVC uses them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import UserError

DEFAULT_DIR = Path(".stack")
PG_USER = "retrain"  # the database superuser initdb creates (trust auth, 127.0.0.1 only)
PG_DATABASES = ("mlflow", "optuna")
BUCKET = "retrain-stack"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"
PG_BIN_ENV = "RETRAIN_PG_BIN"
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
ROOT_RUN_AS = "postgres"  # the OS user the server runs as when we are root
INSTALL_HINT = (
    "install Debian's PostgreSQL server (`sudo apt-get install -y postgresql`), or set "
    f"{PG_BIN_ENV} to the directory holding initdb and pg_ctl"
)


@dataclass(frozen=True)
class Ports:
    postgres: int
    s3: int
    mlflow: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_pg_bin(env: dict[str, str] | None = None, pattern: str = PG_BIN_GLOB) -> Path:
    """The directory holding PostgreSQL's `initdb` and `pg_ctl` (highest version first)."""
    env = dict(os.environ) if env is None else env
    given = env.get(PG_BIN_ENV)
    candidates: list[Path] = [Path(given)] if given else []
    if not given:
        import glob

        versions = sorted(
            (Path(p) for p in glob.glob(pattern)),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        candidates += versions
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    where = given if given else pattern
    raise UserError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in {where}", INSTALL_HINT
    )


def run_as_prefix() -> list[str]:
    """[] normally; as root, `runuser -u postgres --` (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(ROOT_RUN_AS)
    except KeyError:
        raise UserError(
            "running as root, and PostgreSQL's initdb refuses root: there is no "
            f"'{ROOT_RUN_AS}' user to run it as",
            "run `retrain stack up` as a normal user, or install Debian's postgresql package "
            "(it creates the postgres user)",
        ) from None
    # util-linux installs runuser in /usr/sbin, which a minimal PATH (CI's) leaves out.
    runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if runuser is None:
        raise UserError(
            "running as root, and PostgreSQL's initdb refuses root: `runuser` (util-linux) "
            "was not found to run it as the postgres user",
            "install util-linux, or run `retrain stack up` as a normal user",
        )
    return [runuser, "-u", ROOT_RUN_AS, "--"]


def pid_alive(pid: int, expect: str | None = None) -> bool:
    """True when `pid` runs and (if given) its command line contains `expect` (a reused pid
    running something else counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2 :].startswith("Z"):
            return False  # exited, not yet reaped by its parent
    except (OSError, ValueError):
        pass
    if expect is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return expect in cmdline


class Stack:
    """The stack rooted at `directory` (default `.stack/` in the project)."""

    def __init__(self, directory: Path = DEFAULT_DIR) -> None:
        self.dir = directory.resolve()
        self.pg_data = self.dir / "postgres"
        self.ports_file = self.dir / "ports.json"

    # -- state ------------------------------------------------------------------------------

    def pid_file(self, name: str) -> Path:
        return self.dir / f"{name}.pid"

    def read_pid(self, name: str) -> int | None:
        # postgres writes its own pid file (first line: the postmaster's pid)
        path = self.pg_data / "postmaster.pid" if name == "postgres" else self.pid_file(name)
        try:
            first = path.read_text().split()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.isdigit() else None

    def ports(self) -> Ports | None:
        try:
            return Ports(**json.loads(self.ports_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _choose_ports(self) -> Ports:
        old = self.ports()
        running = self.running()

        def pick(name: str, previous: int | None) -> int:
            if previous is not None and (running.get(name) or port_free(previous)):
                return previous
            return free_port()

        ports = Ports(
            postgres=pick("postgres", old.postgres if old else None),
            s3=pick("s3", old.s3 if old else None),
            mlflow=pick("mlflow", old.mlflow if old else None),
        )
        self.ports_file.write_text(json.dumps(ports.__dict__) + "\n")
        return ports

    # what each pid's command line must contain for it to be ours
    def _signature(self, name: str) -> str:
        return {"postgres": str(self.pg_data), "s3": "moto", "mlflow": "mlflow"}[name]

    def running(self) -> dict[str, bool]:
        result = {}
        for name in ("postgres", "s3", "mlflow"):
            pid = self.read_pid(name)
            result[name] = pid is not None and pid_alive(pid, self._signature(name))
        return result

    # -- env --------------------------------------------------------------------------------

    def urls(self, ports: Ports) -> dict[str, str]:
        pg = f"postgresql+psycopg://{PG_USER}@127.0.0.1:{ports.postgres}"
        s3 = f"http://127.0.0.1:{ports.s3}"
        return {
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
            "MLFLOW_S3_ENDPOINT_URL": s3,
            "AWS_ENDPOINT_URL": s3,
            **S3_KEYS,
            "AWS_DEFAULT_REGION": REGION,
            "RETRAIN_OPTUNA_STORAGE": f"{pg}/optuna",
            "RETRAIN_MLFLOW_BACKEND": f"{pg}/mlflow",
            "DVC_REMOTE_URL": f"s3://{BUCKET}/dvc",
        }

    def env(self) -> dict[str, str]:
        ports = self.ports()
        if ports is None or not all(self.running().values()):
            raise UserError(
                f"the team stack in {self.dir} is not running",
                "start it with `make stack` (`retrain stack up`)",
            )
        return self.urls(ports)

    # -- up ---------------------------------------------------------------------------------

    def up(self, timeout_s: float = 180.0, s3_only: bool = False) -> dict[str, str]:
        """Start what is not running (all three parts, or the S3 server alone); the env."""
        if not s3_only:
            pg_bin = find_pg_bin()  # fail before creating anything
            prefix = run_as_prefix()
        self.dir.mkdir(parents=True, exist_ok=True)
        ports = self._choose_ports()
        urls = self.urls(ports)
        state = self.running()
        if not s3_only:
            if not state["postgres"]:
                self._start_postgres(pg_bin, prefix, ports.postgres)
            self._create_databases(ports.postgres)
        if not state["s3"]:
            self._spawn("s3", [_venv_script("moto_server"), "-H", "127.0.0.1", "-p", str(ports.s3)])
            _wait_http(f"{urls['AWS_ENDPOINT_URL']}/", timeout_s, self.dir / "s3.log")
            self.restore_s3(urls["AWS_ENDPOINT_URL"])  # a fresh server: bring the saved objects
        self._create_bucket(urls["AWS_ENDPOINT_URL"])
        if s3_only:
            return urls
        if not state["mlflow"]:
            server_env = {**os.environ, **S3_KEYS, "AWS_DEFAULT_REGION": REGION}
            server_env["MLFLOW_S3_ENDPOINT_URL"] = urls["MLFLOW_S3_ENDPOINT_URL"]
            # no GenAI job runner (a job runner + 6 huey consumers, ~1.9 GB): never used here
            server_env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            command = [
                _venv_script("mlflow"),
                "server",
                "--backend-store-uri",
                urls["RETRAIN_MLFLOW_BACKEND"],
                "--artifacts-destination",
                f"s3://{BUCKET}/mlflow",
                "--host",
                "127.0.0.1",
                "--port",
                str(ports.mlflow),
                "--workers",
                "1",
            ]
            self._spawn("mlflow", command, server_env)
            _wait_http(f"{urls['MLFLOW_TRACKING_URI']}/health", timeout_s, self.dir / "mlflow.log")
        return urls

    def _start_postgres(self, pg_bin: Path, prefix: list[str], port: int) -> None:
        log_file = self.dir / "postgres.log"
        if not (self.pg_data / "PG_VERSION").exists():
            self.pg_data.mkdir(parents=True, exist_ok=True)
            self.pg_data.chmod(0o700)
            if prefix:
                _chown(self.pg_data)
                reach = subprocess.run([*prefix, "test", "-w", str(self.pg_data)], check=False)
                if reach.returncode != 0:
                    raise UserError(
                        f"the {ROOT_RUN_AS} user (PostgreSQL runs as it under root) cannot "
                        f"reach {self.pg_data}: a parent directory is not traversable",
                        f"`chmod o+x` the parents, or pass `--dir` somewhere {ROOT_RUN_AS} "
                        "can reach",
                    )
            _run(
                [
                    *prefix,
                    str(pg_bin / "initdb"),
                    "-D",
                    str(self.pg_data),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                "initdb",
            )
            with (self.pg_data / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# retrain stack: 127.0.0.1 only, no unix socket\n"
                    "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                )
        log_file.touch()
        if prefix:
            _chown(log_file)
        _run(
            [
                *prefix,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(self.pg_data),
                "-l",
                str(log_file),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                "60",
                "start",
            ],
            "pg_ctl start",
            log_file,
        )

    def _create_databases(self, port: int) -> None:
        import psycopg

        conninfo = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            for name in PG_DATABASES:
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if found.fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def _create_bucket(self, endpoint: str) -> None:
        s3 = _s3_client(endpoint)
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if BUCKET not in names:
            s3.create_bucket(Bucket=BUCKET)

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.dir,
            start_new_session=True,  # its own process group: `down` stops it and its workers
        )
        self.pid_file(name).write_text(f"{process.pid}\n")

    # -- S3 persistence ---------------------------------------------------------------------

    @property
    def s3_dir(self) -> Path:
        """Saved objects: `<bucket>/<key, percent-encoded into one file name>`."""
        return self.dir / "s3"

    def save_s3(self, endpoint: str) -> int:
        """Download every object of every bucket into a new copy of `s3_dir`, then swap it in
        (a failure leaves the previous copy as it was). Returns the number of objects."""
        import urllib.parse

        s3 = _s3_client(endpoint)
        staging = self.dir / "s3.saving"
        shutil.rmtree(staging, ignore_errors=True)
        count = 0
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            (staging / name).mkdir(parents=True)
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for item in page.get("Contents", []):
                    target = staging / name / urllib.parse.quote(item["Key"], safe="")
                    s3.download_file(name, item["Key"], str(target))
                    count += 1
        staging.mkdir(exist_ok=True)  # no bucket at all is a valid (empty) copy too
        previous = self.dir / "s3.previous"
        shutil.rmtree(previous, ignore_errors=True)
        if self.s3_dir.exists():
            self.s3_dir.rename(previous)
        staging.rename(self.s3_dir)
        shutil.rmtree(previous, ignore_errors=True)
        return count

    def restore_s3(self, endpoint: str) -> int:
        """Upload the saved objects into the (fresh) server at `endpoint`; the count."""
        import urllib.parse

        if not self.s3_dir.is_dir():
            return 0
        s3 = _s3_client(endpoint)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        count = 0
        for bucket_dir in sorted(p for p in self.s3_dir.iterdir() if p.is_dir()):
            if bucket_dir.name not in existing:
                s3.create_bucket(Bucket=bucket_dir.name)
            for path in sorted(bucket_dir.iterdir()):
                key = urllib.parse.unquote(path.name)
                s3.upload_file(str(path), bucket_dir.name, key)
                count += 1
        return count

    def _save_before_stop(self, endpoint: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            count = self.save_s3(endpoint)
        except (BotoCoreError, ClientError, OSError) as exc:
            # stopped all the same; the copy from the last good `down` is left untouched
            return f", S3 objects NOT saved ({type(exc).__name__}: {exc}); {self.s3_dir} kept"
        return f", {count} object(s) saved to {self.s3_dir}"

    # -- down -------------------------------------------------------------------------------

    def down(self, timeout_s: float = 30.0) -> list[str]:
        """Stop what `up` started (by pid, checked); returns what was stopped."""
        stopped = []
        for name in ("mlflow", "s3"):  # mlflow first: nothing writes to S3 while it is saved
            pid = self.read_pid(name)
            if pid is not None and pid_alive(pid, self._signature(name)):
                saved = ""
                ports = self.ports()
                if name == "s3" and ports is not None:
                    saved = self._save_before_stop(f"http://127.0.0.1:{ports.s3}")
                _stop_group(pid, timeout_s)
                stopped.append(f"{name} (pid {pid}{saved})")
            self.pid_file(name).unlink(missing_ok=True)
        pid = self.read_pid("postgres")
        if pid is not None and pid_alive(pid, self._signature("postgres")):
            pg_bin = find_pg_bin()
            _run(
                [
                    *run_as_prefix(),
                    str(pg_bin / "pg_ctl"),
                    "-D",
                    str(self.pg_data),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                "pg_ctl stop",
            )
            stopped.append(f"postgres (pid {pid})")
        return stopped


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )


def _venv_script(name: str) -> str:
    """A console script of this environment (`.venv/bin/<name>`), which must be installed."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise UserError(
            f"{name} is not installed in this environment ({path.parent})",
            "install the team extras: `make sync-team`",
        )
    return str(path)


def _chown(path: Path) -> None:
    user = pwd.getpwnam(ROOT_RUN_AS)
    os.chown(path, user.pw_uid, user.pw_gid)


def _run(command: list[str], what: str, log_file: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        if log_file is not None and log_file.exists():
            tail += log_file.read_text(errors="replace").strip().splitlines()[-5:]
        raise UserError(
            f"{what} failed (exit {done.returncode}): " + " | ".join(tail),
            f"see the logs in {log_file.parent if log_file else 'the output above'}; "
            "`retrain stack down` then `retrain stack up` to start clean",
        )


def _wait_http(url: str, timeout_s: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    tail = (
        log_file.read_text(errors="replace").strip().splitlines()[-5:] if log_file.exists() else []
    )
    raise UserError(
        f"{url} did not answer within {timeout_s:.0f} s: " + " | ".join(tail),
        f"see {log_file}; `retrain stack down` then `retrain stack up`",
    )


def _stop_group(pid: int, timeout_s: float) -> None:
    """SIGTERM the process group `pid` leads (started with a session of its own), then SIGKILL
    whatever is left after `timeout_s`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        _reap(pid)
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    """Collect `pid` if it is our own child (when `up` and `down` ran in one process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def exports(env: dict[str, str]) -> str:
    """Shell `export` lines, then how to use them."""
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    lines += [
        "# DVC remote (once per clone):",
        '#   dvc remote add --local --force -d stack "$DVC_REMOTE_URL"',
        '#   dvc remote modify --local stack endpointurl "$AWS_ENDPOINT_URL"',
        "# shared Optuna study: params.yaml train.storage = $RETRAIN_OPTUNA_STORAGE",
    ]
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain stack", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "env", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    args = parser.parse_args(argv)
    stack = Stack(args.dir)
    if args.action == "up":
        print(exports(stack.up()))
    elif args.action == "env":
        print(exports(stack.env()))
    elif args.action == "status":
        ports = stack.ports()
        for name, alive in stack.running().items():
            port = getattr(ports, name) if ports else "-"
            print(f"{name:<9} {'running' if alive else 'stopped'}  port {port}")
    else:
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0
