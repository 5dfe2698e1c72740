"""Reading a user's data file into columns: CSV, TSV, JSONL, Parquet or a ``save_to_disk`` folder.

:func:`read_table` returns a :class:`Table` (column name -> values, in file order);
:func:`user_source` records the files' provenance (paths and a SHA-256 of their contents).
Every problem raises :class:`UserDataError`, a ValueError whose one-line message names the file
and the values seen. :mod:`torch_rdrop.bench.tasks.data.user_files` turns tables into a task's
data.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "reviews.tsv"
>>> _ = path.write_text("text\\tlabel\\ngood\\tpos\\n")
>>> table = read_table(path)
>>> table.rows, table.columns
(1, {'text': ['good'], 'label': ['pos']})
>>> table.column("txt", "text")
Traceback (most recent call last):
...
torch_rdrop.bench.tasks.data.tables.UserDataError: .../reviews.tsv: no column 'txt' (the text \
column); columns found: text, label; did you mean 'text'?
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch_rdrop.bench.tasks.data.sources import Source, sha256_of

__all__ = ["FORMATS", "Table", "UserDataError", "has_split", "read_table", "user_source"]

#: File name endings and the format read; a folder is a ``datasets`` ``save_to_disk`` folder.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class UserDataError(ValueError):
    """A user's data file cannot be read as asked; the message names the file and the values."""


@dataclass(frozen=True)
class Table:
    """The columns of one file (or one split of a ``datasets`` folder), in file order."""

    path: Path
    columns: dict[str, list[Any]]
    rows: int

    def column(self, name: str, role: str) -> list[Any]:
        """The values of column ``name``, or an error naming the columns found and the closest."""
        if name in self.columns:
            return self.columns[name]
        found = list(self.columns)
        close = difflib.get_close_matches(name, found, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserDataError(
            f"{self.path}: no column {name!r} (the {role} column); columns found: "
            f"{', '.join(found) or 'none'}{hint}"
        )


def _format_of(path: Path) -> str:
    if path.is_dir():
        return "datasets"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserDataError(
            f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; use one of "
            f"{', '.join(FORMATS)} or a folder written by datasets' save_to_disk"
        )
    return fmt


def _read_delimited(path: Path, delimiter: str) -> dict[str, list[Any]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise UserDataError(f"{path}: the file is empty, no header and no rows")
        names = [h.strip() for h in header]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserDataError(f"{path}: the header names these columns twice: {', '.join(twice)}")
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                raise UserDataError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the header has "
                    f"{len(names)}"
                )
            for name, value in zip(names, row, strict=True):
                columns[name].append(value)
    return columns


def _read_jsonl(path: Path) -> dict[str, list[Any]]:
    records = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserDataError(f"{path}: line {number} is not JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise UserDataError(
                    f"{path}: line {number} is a JSON {type(record).__name__}, not an object"
                )
            records.append(record)
    names = list(dict.fromkeys(key for record in records for key in record))
    return {name: [record.get(name) for record in records] for name in names}


def _read_parquet(path: Path) -> dict[str, list[Any]]:
    from torch_rdrop.integrations import require

    parquet = require("pyarrow.parquet", "bench")
    try:
        return parquet.read_table(path).to_pydict()
    except Exception as error:  # pyarrow raises its own error types for a damaged file
        raise UserDataError(f"{path}: not a readable Parquet file ({error})") from None


def _read_datasets(path: Path, split: str | None) -> dict[str, list[Any]]:
    from torch_rdrop.integrations import require

    datasets = require("datasets", "bench")
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise UserDataError(
            f"{path}: a folder, but not one written by datasets' save_to_disk "
            f"(files found: {', '.join(sorted(p.name for p in path.iterdir())) or 'none'})"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split is None:
            raise UserDataError(
                f"{path}: a DatasetDict with the splits {', '.join(splits)} and no 'train' split"
            )
        if split not in loaded:
            raise UserDataError(
                f"{path}: a DatasetDict without a {split!r} split; splits found: "
                f"{', '.join(splits)}"
            )
        loaded = loaded[split]
    return loaded.to_dict()


def read_table(path: str | Path, split: str | None = None) -> Table:
    """Read a CSV, TSV, JSONL or Parquet file, or a ``save_to_disk`` folder, into columns.

    ``split`` picks the split of a ``DatasetDict`` folder (default: its only split).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tags.jsonl"
    >>> _ = path.write_text('{"tokens": ["Ann", "sings"], "tags": ["B-PER", "O"]}\\n')
    >>> read_table(path).columns
    {'tokens': [['Ann', 'sings']], 'tags': [['B-PER', 'O']]}
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise UserDataError(f"{path}: no such file or folder")
    fmt = _format_of(path)
    if fmt == "csv":
        columns = _read_delimited(path, ",")
    elif fmt == "tsv":
        columns = _read_delimited(path, "\t")
    elif fmt == "jsonl":
        columns = _read_jsonl(path)
    elif fmt == "parquet":
        columns = _read_parquet(path)
    else:
        columns = _read_datasets(path, split)
    rows = len(next(iter(columns.values()), []))
    if rows == 0:
        found = f" (columns: {', '.join(columns)})" if columns else ""
        raise UserDataError(f"{path}: the file is empty, no rows{found}")
    return Table(path, columns, rows)


def user_source(*paths: Path | None) -> Source:
    """The provenance of user files: their paths and a SHA-256 of their contents (of the one
    file, else of the files' digests in path order).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = path.write_text("text,label\\n")
    >>> user_source(path).version
    'sha256 3d1efb1f982c'
    """
    named = [p for p in paths if p is not None]
    files = [f for p in named for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file()]
    if len(files) == 1:  # the same digest as ``sha256sum FILE``
        digest = sha256_of(files[0])
    else:
        digest = hashlib.sha256("".join(sha256_of(f) for f in files).encode("ascii")).hexdigest()
    return Source(
        package=" + ".join(str(p) for p in named),
        version=f"sha256 {digest[:12]}",
        registry="local file",
        install="a local file: keep it at this path",
        licence="the data's owner's terms",
    )


def has_split(path: Path, split: str) -> bool:
    """Whether ``path`` is a ``DatasetDict`` folder with the split ``split``.

    >>> has_split(Path("reviews.csv"), "train")
    False
    """
    if not (path / "dataset_dict.json").is_file():
        return False
    try:
        names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
    except (ValueError, KeyError, TypeError):
        return False
    return split in names
