"""RDropTrainer on two CPU processes (gloo) gives the update and the logs of one process on the
combined batch; the two ranks draw different dropout masks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from integrations.stand_ins import (
    Examples,
    StandInClassifier,
    StandInTagger,
    step_logs,
    train_with,
)
from torch_rdrop.integrations.hf import RDropTrainer

WORKER = Path(__file__).resolve().parent / "ddp_hf_worker.py"


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp_hf")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", str(WORKER), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.mark.parametrize(
    ("name", "make_model", "make_data"),
    [
        ("classifier", StandInClassifier, Examples),
        ("tagger", StandInTagger, lambda: Examples(features=5, classes=4, tokens=6)),
    ],
)
def test_two_processes_match_one_process_on_the_combined_batch(
    two_process_run, tmp_path, name, make_model, make_data
) -> None:
    torch.manual_seed(0)
    model = make_model()
    trainer = train_with(RDropTrainer, model, make_data(), str(tmp_path), batch_size=8)
    single = torch.cat([p.detach().flatten() for p in model.parameters()])
    ddp = torch.load(two_process_run / f"{name}.pt")
    torch.testing.assert_close(ddp["params"], single, rtol=0, atol=1e-6)
    for a, b in zip(step_logs(trainer), ddp["logs"], strict=True):
        for key in ("loss", "task_loss", "consistency"):
            assert b[key] == pytest.approx(a[key], rel=1e-6), key


def test_ranks_draw_different_dropout_masks(two_process_run) -> None:
    seeded = [torch.load(two_process_run / f"mask-seeded-{rank}.pt") for rank in (0, 1)]
    control = [torch.load(two_process_run / f"mask-control-{rank}.pt") for rank in (0, 1)]
    # without the per-rank seed both ranks drop exactly the same units
    assert torch.equal(control[0], control[1])
    assert not torch.equal(seeded[0], seeded[1])
    # rank 0 keeps the single-process random stream
    assert torch.equal(seeded[0], control[0])
