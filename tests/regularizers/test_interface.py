"""The factory, the configs and their errors, and the shared contract of the entry point."""

from __future__ import annotations

import pytest
import torch

from regularizers.toy_models import mlp, tiny_bert, token_batch
from torch_rdrop.regularizers import (
    FGM,
    METHODS,
    FGMConfig,
    FreeLBConfig,
    ManifoldMixupConfig,
    MixupConfig,
    PGDConfig,
    RDropConfig,
    RDropRegularizer,
    build_regularizer,
    split_target,
)
from torch_rdrop.schedules import LinearWarmup


def test_every_name_builds_the_method_of_that_name() -> None:
    for method in METHODS:
        expected = "manifold_mixup" if method == "tmix" else method
        assert build_regularizer(method).name == expected


def test_overrides_reach_the_config_and_a_config_object_selects_its_method() -> None:
    assert build_regularizer("pgd", steps=5, epsilon=0.5).config == PGDConfig(epsilon=0.5, steps=5)
    method = build_regularizer(FreeLBConfig(steps=4))
    assert method.name == "freelb" and method.config.steps == 4
    both = build_regularizer("rdrop+fgm", alpha=0.3, epsilon=0.2)
    assert isinstance(both, FGM) and isinstance(both.inner, RDropRegularizer)
    assert both.config.epsilon == 0.2 and both.inner.config.alpha == 0.3
    tmix = build_regularizer("tmix")
    assert tmix.config == ManifoldMixupConfig(alpha=16.0, layers=(7, 9, 12), max_lambda=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_regularizer("cutmix"), "method must be one of"),
        (lambda: build_regularizer("fgm", alpha=1.0), "unknown option"),
        (lambda: build_regularizer("rdrop+fgm", steps=2), "unknown option"),
        (lambda: build_regularizer("fgm", epsilon=-0.1), "epsilon must be a finite number >= 0"),
        (lambda: PGDConfig(step_size=0), "step_size must be a finite number > 0"),
        (lambda: PGDConfig(steps=0), "steps must be an integer >= 1"),
        (lambda: FreeLBConfig(epsilon=-1), "epsilon must be"),
        (lambda: FreeLBConfig(init_magnitude=float("nan")), "init_magnitude"),
        (lambda: FGMConfig(site="weights"), "site must be one of"),
        (lambda: MixupConfig(alpha=0), "alpha must be a finite number > 0"),
        (lambda: MixupConfig(level="sentence"), "level must be one of"),
        (lambda: MixupConfig(mix_targets="hard"), "mix_targets"),
        (lambda: ManifoldMixupConfig(layers=(1, -1)), "layers must be"),
        (lambda: ManifoldMixupConfig(layers=()), "layers must be"),
        (lambda: RDropConfig(alpha=-1), "alpha must be"),
        (lambda: RDropConfig(passes=1), "passes must be"),
    ],
)
def test_bad_configs_raise_value_errors_that_name_the_argument(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_labels_of_a_mapping_batch_become_the_target_and_do_not_reach_the_model() -> None:
    batch = token_batch()
    inputs, target = split_target(batch, None)
    assert "labels" not in inputs and torch.equal(target, batch["labels"])
    given = torch.zeros(6, dtype=torch.long)
    assert split_target(batch, given)[1] is given
    model = tiny_bert()
    out = build_regularizer("none").training_loss(model, batch)
    assert out.output.loss is None  # the model saw no labels; the loss was computed here
    assert torch.isclose(out.loss, torch.nn.functional.cross_entropy(out.output.logits, target))


def test_methods_that_need_a_target_say_so() -> None:
    for method in ("none", "mixup", "fgm"):
        with pytest.raises(ValueError, match="target is None"):
            build_regularizer(method).training_loss(mlp(), torch.randn(4, 8))


def test_rdrop_without_a_target_gives_the_consistency_term_alone() -> None:
    out = build_regularizer("rdrop", alpha=2.0).training_loss(mlp(), torch.randn(4, 8))
    assert out.parts["task"] == 0 and out.parts["consistency"] > 0
    assert torch.isclose(out.parts["consistency"], 2.0 * out.details["divergence"])


def test_rdrop_is_the_core_wrapper_and_its_schedule_advances_once_per_step() -> None:
    method = build_regularizer("rdrop+fgm", alpha=LinearWarmup(alpha=1.0, warmup_steps=4))
    model, x, y = mlp(), torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    parts = [method.training_loss(model, x, y).parts for _ in range(3)]
    assert method.inner.step == 3 and method.step == 3  # not 6: both evaluations are one step
    assert parts[0]["consistency"] == 0 and parts[1]["consistency"] > 0  # alpha 0, then 0.25
    assert method.inner.wrapper(model).model is model
    single = build_regularizer("rdrop", alpha=LinearWarmup(alpha=1.0, warmup_steps=4))
    seen = [single.training_loss(model, x, y).details["alpha"] for _ in range(3)]
    assert seen == [0.0, 0.25, 0.5]
