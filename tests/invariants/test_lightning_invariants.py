"""RDropModule: accumulation and two DDP processes give the update and the logged means of one
process on the whole batch; ranks draw different masks; bf16-mixed stays close to fp32."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning")

from integrations.lit_stand_ins import LitStandIn, ddp_order, epoch_metrics, fit, flat_params

WORKER = Path(__file__).resolve().parent / "ddp_lightning_worker.py"


def run(tmp_path, batch_size: int, accumulate: int = 1, **settings):
    torch.manual_seed(0)
    module = LitStandIn()
    start = flat_params(module)
    trainer = fit(module, str(tmp_path), batch_size, accumulate, **settings)
    return start, flat_params(module), epoch_metrics(trainer)


def test_accumulation_gives_the_update_and_logs_of_the_whole_batch(tmp_path) -> None:
    start, whole, logged_whole = run(tmp_path, 8)
    _, split, logged_split = run(tmp_path, 4, accumulate=2)
    assert (whole - start).abs().max() > 1e-3
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    assert logged_whole["train/consistency_epoch"] > 0
    for name, value in logged_whole.items():
        assert logged_split[name] == pytest.approx(value, rel=1e-6), name


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp_lightning")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_two_processes_match_one_process_on_the_combined_batch(two_process_run, tmp_path) -> None:
    # one process sees, batch after batch, what the two ranks see together
    _, single, logged = run(tmp_path, 8, order=ddp_order())
    ddp = torch.load(two_process_run / "lightning.pt")
    torch.testing.assert_close(ddp["params"], single, rtol=0, atol=1e-6)
    for name, value in logged.items():
        assert ddp["metrics"][name] == pytest.approx(value, rel=1e-6), name


def test_ranks_draw_different_dropout_masks(two_process_run) -> None:
    seeded = [torch.load(two_process_run / f"mask-seeded-{rank}.pt") for rank in (0, 1)]
    control = [torch.load(two_process_run / f"mask-control-{rank}.pt") for rank in (0, 1)]
    assert torch.equal(control[0], control[1])
    assert not torch.equal(seeded[0], seeded[1])
    assert torch.equal(seeded[0], control[0])


def test_bf16_mixed_consistency_is_close_to_fp32(tmp_path) -> None:
    torch.manual_seed(0)
    fp32 = LitStandIn()
    bf16 = LitStandIn()
    bf16.load_state_dict(fp32.state_dict())
    logged = {}
    for name, module, precision in (("fp32", fp32, "32-true"), ("bf16", bf16, "bf16-mixed")):
        trainer = fit(module, str(tmp_path), 8, steps=1, precision=precision)
        logged[name] = epoch_metrics(trainer)
    cons32, cons16 = (
        logged["fp32"]["train/consistency_epoch"],
        logged["bf16"]["train/consistency_epoch"],
    )
    assert cons32 > 1e-3
    assert cons16 == pytest.approx(cons32, rel=0.05)
    # bf16 autocast did run: the two are not bit-identical
    assert cons16 != cons32
    assert logged["bf16"]["train/task_loss_epoch"] == pytest.approx(
        logged["fp32"]["train/task_loss_epoch"], rel=0.02
    )
