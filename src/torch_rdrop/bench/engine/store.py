"""The run store: an Optuna RDB storage (a SQLite file by default, or any SQLAlchemy URL).

Workers write heartbeats; a trial whose worker died (SIGKILL, power loss) is declared failed once
its heartbeat is older than the grace period and is queued again by Optuna's retry callback.
Storage problems (unreachable server, corrupt or locked file, missing driver) become a
:class:`StoreError` whose message says what is wrong and what to do.

>>> storage_url("runs/bench.db").startswith("sqlite:///")
True
>>> display_url("postgresql+psycopg://me:secret@db:5432/bench")
'postgresql+psycopg://me:***@db:5432/bench'
>>> portable_command("rdrop bench --tasks mr --snapshots /tmp/s --max-runs=2 --study x")
'rdrop bench --tasks mr --study x'
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = [
    "StoreError",
    "StoreOptions",
    "display_url",
    "distinct_commands",
    "import_optuna",
    "load_existing_study",
    "open_storage",
    "portable_command",
    "remember_command",
    "storage_url",
    "store_errors",
]


class StoreError(RuntimeError):
    """The run store cannot be used; the message names the storage and the remedy."""


def import_optuna() -> optuna:
    """Import optuna, or fail with the extra to install."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(
            "the benchmark store needs optuna: pip install 'torch-rdrop[bench]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(text: str) -> str:
    """A SQLAlchemy URL from a URL (kept as is) or a file path (an absolute ``sqlite:///`` URL)."""
    if "://" in text:
        return text
    return "sqlite:///" + os.path.abspath(os.path.expanduser(text))


def display_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


@dataclass(frozen=True)
class StoreOptions:
    """Heartbeat and retry settings.

    A worker writes a heartbeat every ``heartbeat_interval`` seconds; a RUNNING trial without one
    for ``grace_period`` seconds is failed and queued again (at most ``max_retry`` times).
    ``lock_timeout`` is how long SQLite waits for another writer before giving up.
    """

    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 3
    lock_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.heartbeat_interval < 1:
            raise ValueError(f"heartbeat_interval must be >= 1 s, got {self.heartbeat_interval}")
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period ({self.grace_period} s) must exceed heartbeat_interval "
                f"({self.heartbeat_interval} s)"
            )


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def _check_sqlite_file(url: str) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise StoreError(
            f"storage {display_url(url)}: folder {str(path.parent)!r} does not exist; create it "
            "or choose another --storage"
        )
    if path.is_dir():
        raise StoreError(f"storage {display_url(url)}: {str(path)!r} is a folder, not a file")
    if path.exists() and path.stat().st_size > 0 and not _holds_sqlite(path):
        raise StoreError(
            f"storage {display_url(url)}: {str(path)!r} is not an SQLite database (corrupt or "
            "another kind of file); move it away or choose another --storage"
        )


def _holds_sqlite(path: Path) -> bool:
    """Whether the file at ``path`` is an SQLite database, asked of SQLite itself.

    Not read with ``open()``: closing any handle of a file drops every POSIX lock the process
    holds on it, those of its open SQLite connections too, and another worker may then write
    under a reader that thinks itself locked ("database disk image is malformed"). SQLite keeps
    a closed connection's handle open while other connections of the process hold locks.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("not a database, though long enough to look at")
    >>> _holds_sqlite(folder / "notes.txt")
    False
    """
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:  # locked or busy: a database, for the open to handle
        return "not a database" not in str(exc)
    return True


def _explain(url: str, exc: BaseException) -> StoreError:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    shown = display_url(url)
    lowered = text.lower()
    if "locked" in lowered:
        return StoreError(
            f"storage {shown} is locked by another process ({text}); wait for it to finish or "
            "use a server database (postgresql+psycopg://...) for many workers"
        )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(
            f"storage {shown} is corrupt ({text}); move the file away or choose another --storage"
        )
    if isinstance(exc, ImportError) or "dialect" in lowered or "plugin" in lowered:
        return StoreError(
            f"storage {shown}: no driver for this URL ({text}); for PostgreSQL install "
            "'psycopg[binary]' and use postgresql+psycopg://USER@HOST:PORT/DB"
        )
    return StoreError(f"cannot open storage {shown}: {text}")


@contextlib.contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Turn database errors raised inside the block into a :class:`StoreError` about ``url``."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        raise _explain(url, exc) from exc


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _tune_sqlite(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead log: readers never block the writer, and one fsync per checkpoint, not commit."""
    from sqlalchemy import event

    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # connections opened so far predate the listener


def open_storage(url: str, options: StoreOptions | None = None) -> optuna.storages.RDBStorage:
    """Open (creating if needed) the RDB storage at ``url`` with heartbeats and retries.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> storage = open_storage(storage_url(folder + "/runs.db"))
    >>> storage.get_all_studies()
    []
    >>> open_storage("sqlite:///" + folder + "/missing/runs.db")
    Traceback (most recent call last):
    ...
    torch_rdrop.bench.engine.store.StoreError: storage sqlite:///.../missing/runs.db: folder '...' does not exist; create it or choose another --storage
    """  # noqa: E501
    optuna = import_optuna()
    options = options or StoreOptions()
    _check_sqlite_file(url)
    if url.startswith("sqlite"):
        connect_args: dict[str, object] = {"timeout": options.lock_timeout}
    elif url.startswith("postgresql"):
        connect_args = {"connect_timeout": 10}
    else:
        connect_args = {}
    for attempt in range(3):
        try:
            return _open(optuna, url, options, connect_args)
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(exc, SQLAlchemyError | ImportError):
                raise
            if _creation_race(exc) and attempt < 2:
                time.sleep(0.5 + 0.5 * attempt)  # another worker created the schema meanwhile
                continue
            raise _explain(url, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` is two workers creating the schema of a new store at the same moment."""
    text = str(exc)
    return any(s in text for s in ("already exists", "alembic_version", "duplicate key"))


def _open(
    optuna: Any, url: str, options: StoreOptions, connect_args: dict[str, object]
) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():  # heartbeats and retries are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = optuna.storages.RetryHeartbeatStaleTrialCallback(options.max_retry)
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs={"connect_args": connect_args},
            heartbeat_interval=options.heartbeat_interval,
            grace_period=options.grace_period,
            heartbeat_stale_trial_callback=callback,
        )
    if url.startswith("sqlite"):
        _tune_sqlite(storage)
    return storage


#: Options that say how this machine runs a study, not what the study is: where snapshots go,
#: how often, how many runs this worker starts, the store's heartbeat. No result depends on them.
LOCAL_OPTIONS = (
    "--max-runs",
    "--snapshots",
    "--snapshot-minutes",
    "--heartbeat-interval",
    "--grace-period",
)


def portable_command(command: str) -> str:
    """``command`` without :data:`LOCAL_OPTIONS` (as ``--flag value`` or ``--flag=value``): the
    command a report prints must fill the whole study on any machine, and two workers that
    differ only in those options ran the same study."""
    kept: list[str] = []
    skip_value = False
    for word in shlex.split(command):
        if skip_value:
            skip_value = False
            continue
        flag, has_value, _ = word.partition("=")
        if flag in LOCAL_OPTIONS:
            skip_value = not has_value
            continue
        kept.append(word)
    return shlex.join(kept)


def distinct_commands(commands: Iterable[str]) -> tuple[str, ...]:
    """The portable forms of ``commands``, each once, in first-seen order."""
    return tuple(dict.fromkeys(portable_command(c) for c in commands if c))


def remember_command(study: optuna.Study, command: str | None) -> None:
    """Add the portable form of ``command`` (the command line that fills ``study``) to the
    study's ``commands`` attribute once, so a report can print how to regenerate the study."""
    if not command:
        return
    stored = list(study.user_attrs.get("commands", []))
    commands = list(distinct_commands([*stored, command]))
    if commands != stored:
        study.set_user_attr("commands", commands)


def load_existing_study(storage: optuna.storages.BaseStorage, study_name: str) -> optuna.Study:
    """Load ``study_name`` from ``storage``; a ValueError names the studies there if it is not."""
    optuna = import_optuna()
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        shown = ", ".join(sorted(names)) or "none"
        raise ValueError(f"study {study_name!r} is not in the storage; studies there: {shown}")
    return optuna.load_study(study_name=study_name, storage=storage)
