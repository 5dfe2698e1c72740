"""Fashion-MNIST (Debian package, IDX files) and scikit-learn digits."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bench.data_sources import check_fixed_split, load_or_skip
from torch_rdrop.bench.tasks.data import images
from torch_rdrop.bench.tasks.data.sources import SourceMissingError


def test_fashion_mnist_official_split_and_balance() -> None:
    data = load_or_skip(images.load_fashion_mnist)
    assert data.inputs.shape == (70000, 28, 28) and data.inputs.dtype == np.uint8
    assert len(data.train) == 60000 and len(data.test) == 10000
    assert set(data.class_counts(data.train).values()) == {6000}
    assert set(data.class_counts(data.test).values()) == {1000}
    assert data.label_names[9] == "Ankle boot"
    assert data.labels[0] == 9  # the first training image of Fashion-MNIST is an ankle boot
    check_fixed_split(data)


def test_digits() -> None:
    data = images.load_digits()
    assert data.inputs.shape == (1797, 8, 8) and data.num_classes == 10
    assert float(data.inputs.max()) == 16.0
    assert sum(data.class_counts(data.test).values()) == 359
    check_fixed_split(data)


def _idx(path: Path, header: bytes, body: bytes) -> Path:
    path.write_bytes(gzip.compress(header + body))
    return path


def test_read_idx_round_trip_and_truncated_file(tmp_path: Path) -> None:
    good = _idx(tmp_path / "a.gz", bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") * 2, bytes(4))
    assert images.read_idx(good).shape == (2, 2)
    short = _idx(tmp_path / "b.gz", bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big"), bytes(3))
    with pytest.raises(ValueError, match="header says shape"):
        images.read_idx(short)
    wrong = _idx(tmp_path / "c.gz", bytes([0, 0, 13, 1]) + (1).to_bytes(4, "big"), bytes(4))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        images.read_idx(wrong)


def test_missing_fashion_mnist_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_RDROP_FASHION_MNIST", str(tmp_path))
    with pytest.raises(SourceMissingError, match="apt-get install -y dataset-fashion-mnist"):
        images.fashion_mnist_dir()
