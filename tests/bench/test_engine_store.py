"""The store opens SQLite files and server URLs, and explains what is wrong when it cannot."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from torch_rdrop.bench.engine.store import (
    StoreError,
    StoreOptions,
    open_storage,
    portable_command,
    storage_url,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_path_becomes_an_absolute_sqlite_url(tmp_path: Path) -> None:
    url = storage_url(str(tmp_path / "runs.db"))
    assert url == f"sqlite:///{tmp_path}/runs.db"
    assert storage_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    storage = open_storage(url, StoreOptions(heartbeat_interval=1, grace_period=2))
    assert storage.get_all_studies() == []
    assert (tmp_path / "runs.db").read_bytes().startswith(b"SQLite format 3")


def test_checking_a_store_keeps_the_locks_of_the_processs_connections(tmp_path: Path) -> None:
    """Closing any handle of a file drops every POSIX lock the process holds on it, those of its
    SQLite connections too; a worker that opened the store again (a test polling it, say) then
    let another process write under its readers, who read a torn file ("malformed")."""
    from torch_rdrop.bench.engine.store import _check_sqlite_file

    path = tmp_path / "runs.db"
    grab = "import sqlite3, sys; sqlite3.connect(sys.argv[1], timeout=0).execute('begin exclusive')"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as reader:
        reader.execute("create table t (x)")
        reader.execute("begin")
        reader.execute("select * from t").fetchall()  # a read lock, held to the end
        _check_sqlite_file(storage_url(str(path)))
        writer = subprocess.run([sys.executable, "-c", grab, str(path)], capture_output=True)
    assert writer.returncode != 0 and "database is locked" in writer.stderr.decode()


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not a database at all" * 10)
    with pytest.raises(StoreError, match=r"is not an SQLite database .*move it away"):
        open_storage(storage_url(str(path)))
    assert path.read_bytes().startswith(b"this is not")  # left as it was


def test_corrupt_inside_a_valid_header(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(StoreError, match="corrupt"):
        open_storage(storage_url(str(path)))


def test_locked_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="is locked by another process"):
            open_storage(storage_url(str(path)), StoreOptions(lock_timeout=0.2))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_missing_folder_and_folder_as_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="folder .* does not exist"):
        open_storage(storage_url(str(tmp_path / "nope" / "runs.db")))
    with pytest.raises(StoreError, match="is a folder, not a file"):
        open_storage(storage_url(str(tmp_path)))


def test_unreachable_server() -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{_free_port()}/bench"
    with pytest.raises(StoreError, match="cannot open storage postgresql") as info:
        open_storage(url)
    assert "secret" not in str(info.value)


def test_unknown_dialect() -> None:
    with pytest.raises(StoreError, match="no driver for this URL"):
        open_storage("nosuchdb://host/db")


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match=r"grace_period \(2 s\) must exceed heartbeat_interval"):
        StoreOptions(heartbeat_interval=2, grace_period=2)


def test_missing_optuna_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from torch_rdrop.bench.engine.store import import_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install 'torch-rdrop\[bench\]'"):
        import_optuna()


def test_the_portable_command_drops_this_machines_options_and_keeps_the_rest() -> None:
    command = (
        "rdrop bench --tasks mr-minilm --snapshots '/root/my snaps' --param epochs=3 "
        "--snapshot-minutes=2 --max-runs 4 --heartbeat-interval 5 --grace-period 60 --study x"
    )
    assert portable_command(command) == "rdrop bench --tasks mr-minilm --param epochs=3 --study x"
    kept = "rdrop bench --tasks 'a b' --param snapshots=1 --study x"  # a value, not the option
    assert portable_command(kept) == kept
