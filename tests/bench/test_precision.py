"""Training precision: ``precision=bf16`` runs a trial's training forward passes under bfloat16
autocast, evaluates in fp32, still learns, and can be part of a recorded recipe."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks.precision import check_precision, training_precision
from torch_rdrop.bench.tasks.recipes import RECIPES, Recipe
from torch_rdrop.bench.tasks.trial import run_trial


def _linear_output_dtypes(spec: TrialSpec) -> dict[bool, set[torch.dtype]]:
    """The dtypes of every Linear layer's output during the run, in training and in eval mode."""
    seen: dict[bool, set[torch.dtype]] = {True: set(), False: set()}

    def record(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(module, nn.Linear) and isinstance(output, torch.Tensor):
            seen[module.training].add(output.dtype)

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        run_trial(spec)
    finally:
        handle.remove()
    return seen


@pytest.mark.parametrize("method", ["none", "rdrop", "fgm"])
def test_bf16_trains_in_bfloat16_and_evaluates_in_fp32(method) -> None:
    params = {"epochs": 1, "precision": "bf16"}
    seen = _linear_output_dtypes(TrialSpec("digits-mlp", method, 4, 0, 0, params))
    assert seen == {True: {torch.bfloat16}, False: {torch.float32}}
    seen = _linear_output_dtypes(TrialSpec("digits-mlp", method, 4, 0, 0, {"epochs": 1}))
    assert seen == {True: {torch.float32}, False: {torch.float32}}


def test_a_recorded_recipe_sets_the_precision(monkeypatch) -> None:
    recipe = Recipe(lr=1e-3, epochs=1, dev_shots=2, precision="bf16")
    monkeypatch.setitem(RECIPES, ("digits-mlp", 4), recipe)
    seen = _linear_output_dtypes(TrialSpec("digits-mlp", "none", 4, 0, 0))
    assert seen[True] == {torch.bfloat16}
    seen = _linear_output_dtypes(TrialSpec("digits-mlp", "none", 4, 0, 0, {"precision": "fp32"}))
    assert seen[True] == {torch.float32}


def test_bf16_learns_digits_as_well_as_fp32() -> None:
    def accuracy(precision: str) -> float:
        spec = TrialSpec("digits-mlp", "rdrop", 16, 0, 0, {"precision": precision})
        return run_trial(spec).value

    fp32, bf16 = accuracy("fp32"), accuracy("bf16")
    assert bf16 > 0.85 and abs(bf16 - fp32) < 0.03, (fp32, bf16)  # fp32: 0.953


def test_an_unknown_precision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"param precision must be one of \('fp32', 'bf16'\)"):
        run_trial(TrialSpec("digits-mlp", "none", 4, 0, 0, {"precision": "fp16"}))
    with pytest.raises(ValueError, match="precision must be one of .* got 'half'"):
        Recipe(lr=1e-3, epochs=1, dev_shots=2, precision="half")
    assert check_precision("bf16") == "bf16"
    with training_precision(nn.Linear(2, 2), "fp32"):
        assert nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.float32
