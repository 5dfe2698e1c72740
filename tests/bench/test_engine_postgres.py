"""Two workers on a real PostgreSQL server: a private cluster on loopback, started and stopped here.

Needs the PostgreSQL server binaries (Debian: ``apt-get install -y postgresql``), the ``psycopg``
driver, and either root (the cluster runs as the ``postgres`` user) or a non-root user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.workers import GRID_SIZE, check_grid_done_once, start_worker
from optional import missing


def _server_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and createdb (Debian's versioned folder first)."""
    candidates = [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))]
    candidates.reverse()
    if shutil.which("pg_ctl"):
        candidates.append(Path(shutil.which("pg_ctl")).parent)
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "createdb")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bin_dir = _server_bin()
    if bin_dir is None:
        missing("PostgreSQL server binaries not found (Debian: apt-get install -y postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="rdrop-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-w",
        "-l",
        str(folder / "log"),
        "start",
    )
    try:
        run(
            str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/bench"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_one_postgres_store(postgres_url: str, tmp_path: Path) -> None:
    workers = [
        start_worker(postgres_url, "pair", "bench.engine_backends:SLOW", tmp_path / f"w{i}.log")
        for i in (0, 1)
    ]
    for i, worker in enumerate(workers):
        assert worker.wait(timeout=90) == 0, (tmp_path / f"w{i}.log").read_text()[-3000:]
    all_trials = check_grid_done_once(postgres_url, "pair")
    assert sum(t.state.name == "COMPLETE" for t in all_trials) == GRID_SIZE
