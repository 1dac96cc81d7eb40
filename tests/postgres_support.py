"""A throw-away PostgreSQL server for tests: Debian's binaries, a temp directory, 127.0.0.1.

`initdb` refuses to run as root, so as root the cluster belongs to the `postgres` system user
(created by Debian's package). The server process is started directly (no pg_ctl fork) and
stopped by its own PID; nothing else is touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin directory (or one with `initdb` on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield `postgresql+psycopg://postgres@127.0.0.1:<port>/postgres`; stop and remove on exit.

    The cluster lives in a fresh directory of its own under the system temp dir (pytest's are
    private to root, out of reach of the `postgres` user)."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries: apt-get install -y postgresql")
    user = "postgres" if os.geteuid() == 0 else None
    workdir = Path(tempfile.mkdtemp(prefix="retrain-pg-"))
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    sockets.mkdir()
    if user:
        for path in (workdir, sockets):
            shutil.chown(path, user=user)
    log = open(workdir / "postgres.log", "ab")  # noqa: SIM115 - closed below
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=log,
        stderr=log,
        user=user,
    )
    port = _free_port()
    options = ["-k", str(sockets), "-c", "fsync=off", "-c", "max_connections=60"]
    server = subprocess.Popen(
        [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), *options],
        stdout=log,
        stderr=log,
        user=user,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not start: {(workdir / 'postgres.log').read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown of this server only (by its PID)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
