"""Every integration example runs as a user runs it (a few steps) and reports real numbers."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
BIN = Path(sys.executable).parent


def run(*command: str) -> dict:
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert math.isfinite(result["task_loss"]) and result["task_loss"] > 0
    assert result["consistency"] > 0
    return result


@pytest.mark.parametrize(
    "script",
    ["hf_text_classification.py", "hf_seq2seq.py", "hf_causal_lm.py"],
)
def test_hf_example(script) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("sklearn")
    result = run(sys.executable, str(EXAMPLES / script), "--max-steps", "4")
    assert math.isfinite(result["eval_loss"])


def test_trl_sft_lora_example() -> None:
    for module in ("trl", "peft", "datasets"):
        pytest.importorskip(module)
    result = run(sys.executable, str(EXAMPLES / "trl_sft_lora.py"), "--max-steps", "6")
    assert result["rdrop_alpha"] == 1.0
    assert 0.0 <= result["mean_token_accuracy"] <= 1.0 and result["entropy"] > 0
    assert result["num_tokens"] > 0 and math.isfinite(result["eval_loss"])


@pytest.mark.parametrize("devices", [1, 2])
def test_lightning_example(devices) -> None:
    pytest.importorskip("lightning")
    pytest.importorskip("sklearn")
    script = str(EXAMPLES / "lightning_classification.py")
    result = run(sys.executable, script, "--max-steps", "4", "--devices", str(devices))
    assert result["world_size"] == devices
    assert 0.0 <= result["val_accuracy"] <= 1.0


def test_plain_pytorch_example_single_process() -> None:
    pytest.importorskip("sklearn")
    result = run(sys.executable, str(EXAMPLES / "torchrun_train.py"), "--max-steps", "30")
    assert result["world_size"] == 1
    assert result["test_accuracy"] > 0.3  # ten classes: chance is 0.1


def test_plain_pytorch_example_under_torchrun_and_accelerate() -> None:
    pytest.importorskip("sklearn")
    script = str(EXAMPLES / "torchrun_train.py")
    torchrun = run(
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        script, "--max-steps", "5",
    )  # fmt: skip
    assert torchrun["world_size"] == 2 and torchrun["weights_in_sync"]
    accelerate = shutil.which("accelerate", path=str(BIN))
    if accelerate is None:
        pytest.skip("accelerate is not installed")
    launched = subprocess.run(
        [
            accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", script, "--max-steps", "5",
        ],
        env={**ENV, "ACCELERATE_USE_CPU": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-4000:]
    result = json.loads(launched.stdout.strip().splitlines()[-1])
    # two real processes, started the same way: the same run as under torchrun
    assert result == torchrun
