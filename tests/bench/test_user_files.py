"""User data files: every format, the three kinds, de-duplication, fixed splits, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.user_files import (
    UserDataError,
    check_shots,
    load_user_data,
)

ROWS = [
    {"body": "printer jams again", "queue": "hardware"},
    {"body": "cannot log in", "queue": "access"},
    {"body": "screen flickers", "queue": "hardware"},
    {"body": "password expired", "queue": "access"},
    {"body": "invoice is wrong", "queue": "billing"},
    {"body": "refund please", "queue": "billing"},
    {"body": "keyboard broken", "queue": "hardware"},
    {"body": "account locked", "queue": "access"},
    {"body": "charged twice", "queue": "billing"},
    {"body": "mouse not found", "queue": "hardware"},
]
SENTENCES = [
    {"tokens": ["Ann", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]},
    {"tokens": ["Bob", "Smith", "left"], "tags": ["B-PER", "I-PER", "O"]},
    {"tokens": ["New", "York", "is", "big"], "tags": ["B-LOC", "I-LOC", "O", "O"]},
    {"tokens": ["it", "rains"], "tags": ["O", "O"]},
    {"tokens": ["Eve", "met", "Ann"], "tags": ["B-PER", "O", "B-PER"]},
]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_dataset(path: Path, rows: list[dict]) -> Path:
    from datasets import Dataset

    Dataset.from_list(rows).save_to_disk(str(path))
    return path


WRITERS = {
    "data.csv": write_csv,
    "data.tsv": lambda p, r: write_csv(p, r, "\t"),
    "data.jsonl": write_jsonl,
    "data.parquet": write_parquet,
    "saved": write_dataset,
}


def tickets(path: Path, **kw) -> ClassificationData:
    data = load_user_data("tickets", "classification", path, ("body", "queue"), **kw)
    assert isinstance(data, ClassificationData)
    return data


@pytest.mark.parametrize("filename", list(WRITERS))
def test_every_format_gives_the_same_data_set(tmp_path: Path, filename: str) -> None:
    path = WRITERS[filename](tmp_path / filename, ROWS)
    reference = tickets(write_csv(tmp_path / "reference.csv", ROWS))
    data = tickets(path)
    assert data.inputs == tuple(r["body"] for r in ROWS)
    assert data.label_names == ("access", "billing", "hardware")
    assert data.labels.tolist() == [2, 0, 2, 0, 1, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(data.train, reference.train)
    np.testing.assert_array_equal(data.test, reference.test)
    assert data.source is not None and data.source.registry == "local file"


def test_duplicates_are_kept_once_and_conflicting_texts_dropped(tmp_path: Path) -> None:
    rows = [*ROWS, ROWS[0], ROWS[0], {"body": "cannot log in", "queue": "billing"}]
    data = tickets(write_csv(tmp_path / "t.csv", rows))
    assert len(data) == len(ROWS) - 1  # 'cannot log in' came with two queues
    assert "cannot log in" not in data.inputs
    assert data.raw_size == len(rows)
    assert data.notes == (
        "4 duplicate rows removed from t.csv, incl. 1 text seen with two outputs",
    )


def test_integer_labels_are_ordered_as_numbers(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": y} for i, y in enumerate([10, 2, 1, 10, 2, 1])]
    data = load_user_data("n", "classification", write_jsonl(tmp_path / "n.jsonl", rows))
    assert data.label_names == ("1", "2", "10")
    assert data.labels.tolist() == [2, 1, 0, 2, 1, 0]


def test_the_split_is_stratified_and_fixed_by_the_seed(tmp_path: Path) -> None:
    rows = [{"text": f"text {i}", "label": ("a", "b")[i % 2]} for i in range(40)]
    path = write_csv(tmp_path / "s.csv", rows)
    first = load_user_data("s", "classification", path, test_fraction=0.25, seed=3)
    again = load_user_data("renamed", "classification", path, test_fraction=0.25, seed=3)
    other = load_user_data("s", "classification", path, test_fraction=0.25, seed=4)
    assert first.class_counts(first.test) == {"a": 5, "b": 5}
    np.testing.assert_array_equal(first.test, again.test)
    assert set(first.test.tolist()) != set(other.test.tolist())


def test_a_test_file_follows_the_training_rows_without_leaks(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ROWS)
    test_rows = [
        {"body": "toner empty", "queue": "hardware"},
        {"body": "refund please", "queue": "billing"},  # also in the training file
        {"body": "wrong amount", "queue": "billing"},
    ]
    data = tickets(train, test_file=write_csv(tmp_path / "test.csv", test_rows))
    assert data.train.tolist() == list(range(10))
    assert [data.inputs[i] for i in data.test] == ["toner empty", "wrong amount"]
    assert data.notes == ("1 row of test.csv also in the training file removed",)
    assert "train.csv + " in data.source.package


def test_a_dataset_dict_folder_gives_its_train_and_test_splits(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "dd"
    DatasetDict(
        train=Dataset.from_list(ROWS), test=Dataset.from_list([{"body": "x y", "queue": "access"}])
    ).save_to_disk(str(folder))
    data = tickets(folder)
    assert data.train.tolist() == list(range(10)) and data.test.tolist() == [10]


def test_tagging_from_jsonl_lists_and_csv_strings(tmp_path: Path) -> None:
    as_text = [{"tokens": " ".join(r["tokens"]), "tags": " ".join(r["tags"])} for r in SENTENCES]
    from_jsonl = load_user_data("ner", "tagging", write_jsonl(tmp_path / "n.jsonl", SENTENCES))
    from_csv = load_user_data("ner", "tagging", write_csv(tmp_path / "n.csv", as_text))
    for data in (from_jsonl, from_csv):
        assert isinstance(data, TaggingData)
        assert data.tag_names == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
        assert data.outside == 0 and data.label_names == ("LOC", "PER")
        assert data.tokens[1] == ("Bob", "Smith", "left")
        assert data.tags[1].tolist() == [3, 4, 0]


def test_plain_tags_have_no_outside_tag(tmp_path: Path) -> None:
    rows = [{"tokens": "the cat sat", "tags": "DT NN VBD"}, {"tokens": "a dog", "tags": "DT NN"}]
    data = load_user_data("pos", "tagging", write_csv(tmp_path / "p.csv", rows))
    assert data.outside is None and data.tag_names == ("DT", "NN", "VBD")


def test_generation_pairs(tmp_path: Path) -> None:
    rows = [{"body": f"long text number {i}", "title": f"title {i}"} for i in range(10)]
    data = load_user_data("h", "generation", write_jsonl(tmp_path / "h.jsonl", rows),
                          ("body", "title"))  # fmt: skip
    assert isinstance(data, GenerationData) and data.is_seq2seq
    assert len(data.train) == 8 and len(data.test) == 2
    assert data.targets[3] == "title 3"


# -- bad input, one line each -------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserDataError, match=r"nope\.csv: no such file") as error:
        tickets(tmp_path / "nope.csv")
    one_line(error)
    train = write_csv(tmp_path / "t.csv", ROWS)
    with pytest.raises(UserDataError, match=r"gone\.csv: no such file"):
        tickets(train, test_file=tmp_path / "gone.csv")


def test_misspelled_column_names_the_columns_found_and_the_closest(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ROWS)
    with pytest.raises(UserDataError) as error:
        load_user_data("t", "classification", path, ("body", "queu"))
    assert one_line(error) == (
        f"{path}: no column 'queu' (the label column); columns found: body, queue; "
        "did you mean 'queue'?"
    )
    with pytest.raises(UserDataError, match=r"no column 'text'.*found: body, queue$"):
        load_user_data("t", "classification", path)  # default column names, nothing close


@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        ("zero.csv", "", "no header and no rows"),
        ("header.csv", "text,label\n", r"no rows \(columns: text, label\)"),
        ("blank.jsonl", "\n\n", "no rows"),
    ],
)
def test_empty_file(tmp_path: Path, name: str, content: str, found: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(UserDataError, match=f"{name}: the file is empty, {found}"):
        load_user_data("e", "classification", tmp_path / name)


def test_a_label_column_with_one_class(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": "spam"} for i in range(5)]
    with pytest.raises(UserDataError) as error:
        load_user_data("one", "classification", write_csv(tmp_path / "o.csv", rows))
    assert one_line(error).endswith(
        "o.csv: column 'label' has one class, 'spam' (5 rows); a classifier needs at least two"
    )


def test_labels_of_the_test_file_unseen_in_training(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ROWS)
    test = write_csv(tmp_path / "test.csv", [
        {"body": "hello", "queue": "sales"}, {"body": "hi", "queue": "sales"},
        {"body": "hey", "queue": "access"},
    ])  # fmt: skip
    with pytest.raises(UserDataError) as error:
        tickets(train, test_file=test)
    assert one_line(error).endswith(
        "test.csv: labels in column 'queue' that the training file train.csv does not have: "
        "'sales' (2 rows); training labels: access, billing, hardware"
    )


def test_fewer_than_k_examples_of_a_class(tmp_path: Path) -> None:
    data = tickets(write_csv(tmp_path / "t.csv", ROWS), test_fraction=0.3)
    counts = data.class_counts(data.train)
    smallest = min(counts.values())
    check_shots(data, smallest)  # enough
    with pytest.raises(UserDataError, match=rf"shots={smallest + 1} needs {smallest + 1} train"):
        check_shots(data, smallest + 1)
    with pytest.raises(UserDataError, match=r"\(\+1 for the dev split\); too few: 'access' has"):
        check_shots(data, smallest, dev_shots=1)


def test_fewer_than_k_sentences_of_an_entity_type(tmp_path: Path) -> None:
    data = load_user_data("ner", "tagging", write_jsonl(tmp_path / "n.jsonl", SENTENCES),
                          test_fraction=0.2)  # fmt: skip
    loc = sum("LOC" in {data.label_names[c] for c in data.sentence_labels(i)} for i in data.train)
    check_shots(data, loc)
    with pytest.raises(UserDataError, match=rf"too few: 'LOC' has {loc}"):
        check_shots(data, loc + 1)


def test_tokens_and_tags_of_different_lengths(tmp_path: Path) -> None:
    rows = [{"tokens": "a b c", "tags": "X Y"}, {"tokens": "d", "tags": "Z"}]
    with pytest.raises(UserDataError, match=r"row 1 has 3 tokens in 'tokens' but 2 tags in 'tags'"):
        load_user_data("t", "tagging", write_csv(tmp_path / "t.csv", rows))


def test_an_empty_text_cell_names_the_row(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": "x"}, {"text": " ", "label": "y"}]
    with pytest.raises(UserDataError, match=r"row 2 of column 'text' \(the text column\) is ' '"):
        load_user_data("t", "classification", write_csv(tmp_path / "t.csv", rows))


def test_tag_problems_count_tokens(tmp_path: Path) -> None:
    one = [{"tokens": "a b", "tags": "X X"}, {"tokens": "c", "tags": "X"}]
    with pytest.raises(UserDataError, match=r"column 'tags' has one tag, 'X' \(3 tokens\)"):
        load_user_data("t", "tagging", write_csv(tmp_path / "one.csv", one))
    train = write_jsonl(tmp_path / "train.jsonl", SENTENCES)
    test = write_jsonl(tmp_path / "test.jsonl", [{"tokens": ["x", "y"], "tags": ["B-ORG", "O"]}])
    with pytest.raises(UserDataError, match=r"does not have: 'B-ORG' \(1 tokens\)"):
        load_user_data("t", "tagging", train, test_file=test)


def test_too_few_generation_examples(tmp_path: Path) -> None:
    rows = [{"source": f"s {i}", "target": f"t {i}"} for i in range(5)]
    data = load_user_data("g", "generation", write_jsonl(tmp_path / "g.jsonl", rows))
    check_shots(data, 4)
    with pytest.raises(UserDataError, match=r"need 5 training examples; the training split has 4"):
        check_shots(data, 4, dev_shots=1)


def test_a_dataset_dict_without_a_train_split(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "dd"
    DatasetDict(dev=Dataset.from_list(ROWS), final=Dataset.from_list(ROWS)).save_to_disk(
        str(folder)
    )
    with pytest.raises(UserDataError, match=r"dd: a DatasetDict with the splits dev, final and no"):
        tickets(folder)
