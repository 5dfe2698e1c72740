"""Reading a user's file into columns: each format's errors name the file and what was seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from torch_rdrop.bench.tasks.data.tables import UserDataError, has_split, read_table, user_source


def test_each_format_reads_the_same_columns(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("text,label\ngood,pos\n")
    (tmp_path / "d.tsv").write_text("text\tlabel\ngood\tpos\n")
    (tmp_path / "d.jsonl").write_text('{"text": "good", "label": "pos"}\n')
    for name in ("d.csv", "d.tsv", "d.jsonl"):
        table = read_table(tmp_path / name)
        assert (table.rows, table.columns) == (1, {"text": ["good"], "label": ["pos"]}), name


def test_a_dataset_dict_folder_names_its_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    folder = tmp_path / "dd"
    DatasetDict(train=Dataset.from_list(rows), test=Dataset.from_list(rows[:1])).save_to_disk(
        str(folder)
    )
    assert (has_split(folder, "train"), has_split(folder, "dev")) == (True, False)
    assert read_table(folder, "test").columns == {"text": ["good"], "label": ["pos"]}
    with pytest.raises(UserDataError, match=r"without a 'dev' split; splits found: train, test"):
        read_table(folder, "dev")


def test_the_source_digest_follows_the_contents(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("text,label\ngood,pos\n")
    before = user_source(path).version
    path.write_text("text,label\ngood,neg\n")
    assert user_source(path).version != before


def test_unknown_file_type_and_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"x")
    with pytest.raises(UserDataError, match=r"unknown file type '\.xlsx'; use one of \.csv"):
        read_table(tmp_path / "data.xlsx")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("x")
    with pytest.raises(UserDataError, match=r"not one written by .*save_to_disk.*notes\.txt"):
        read_table(tmp_path / "folder")


def test_a_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n["b", 2]\n')
    with pytest.raises(UserDataError, match=r"bad\.jsonl: line 2 is a JSON list, not an object"):
        read_table(tmp_path / "bad.jsonl")


def test_a_header_that_names_a_column_twice(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("text,label,text\na,b,c\n")
    with pytest.raises(UserDataError, match=r"the header names these columns twice: text$"):
        read_table(tmp_path / "d.csv")
