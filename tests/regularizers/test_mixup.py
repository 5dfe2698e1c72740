"""MixUp mixes exactly: inputs (or embeddings, or pooled features) and targets, with one lambda."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from regularizers.toy_models import (
    NUM_CLASSES,
    LSTMClassifier,
    SmallCNN,
    mlp,
    tiny_bert,
    token_batch,
)
from torch_rdrop.regularizers import Mixup, MixupConfig
from torch_rdrop.regularizers._mixing import draw_mix


def one_hot(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, NUM_CLASSES).float()


def test_input_level_is_the_convex_combination_of_inputs_and_targets() -> None:
    model = mlp()
    x, y = torch.randn(8, 8), torch.arange(8) % NUM_CLASSES
    seen = []
    model[0][0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    spy_targets = []

    def spy(logits, target):
        spy_targets.append(target)
        return F.cross_entropy(logits, target)

    out = Mixup(MixupConfig(alpha=0.7)).training_loss(model, x, y, task_loss=spy)
    lam, perm = out.details["lam"], out.details["perm"]
    assert out.details["level"] == "input" and 0 < lam < 1
    assert not torch.equal(perm, torch.arange(8))
    assert torch.allclose(seen[0], lam * x + (1 - lam) * x[perm], atol=0, rtol=0)
    expected = lam * one_hot(y) + (1 - lam) * one_hot(y[perm])
    assert torch.allclose(spy_targets[0], expected, atol=1e-7)
    assert torch.equal(out.details["target"], spy_targets[0])


def test_lambda_follows_the_beta_distribution() -> None:
    lams = torch.tensor([draw_mix(0.2, 4).lam for _ in range(2000)])
    # Beta(0.2, 0.2) is U-shaped: most draws near 0 or 1, mean 0.5, variance 1 / (4 * 1.4)
    assert ((lams < 0.1) | (lams > 0.9)).float().mean() > 0.5
    assert abs(lams.mean() - 0.5) < 0.04 and abs(lams.var() - 1 / 5.6) < 0.02
    model, x, y = mlp(), torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    method = Mixup(MixupConfig(alpha=0.2))
    drawn = torch.tensor([method.training_loss(model, x, y).details["lam"] for _ in range(40)])
    assert ((drawn < 0.1) | (drawn > 0.9)).float().mean() > 0.4  # the config's alpha is used


def test_mixing_the_losses_equals_mixing_the_targets_for_cross_entropy() -> None:
    model, x, y = mlp(dropout=0.0), torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(3)
    soft = Mixup(MixupConfig(mix_targets="soft")).training_loss(model, x, y)
    torch.manual_seed(3)
    by_loss = Mixup(MixupConfig(mix_targets="loss")).training_loss(model, x, y)
    assert soft.details["lam"] == by_loss.details["lam"]
    assert torch.allclose(soft.loss, by_loss.loss, atol=1e-6)


def test_ignored_targets_have_no_soft_form() -> None:
    with pytest.raises(ValueError, match="mix_targets='loss'"):
        Mixup().training_loss(mlp(), torch.randn(4, 8), torch.tensor([0, -100, 1, 2]))


def test_embedding_level_mixes_the_word_embeddings_of_token_inputs() -> None:
    model = LSTMClassifier(dropout=0.0)
    ids = token_batch(pad_last=False)["input_ids"]
    y = torch.arange(6) % NUM_CLASSES
    seen = []
    model.lstm.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    out = Mixup().training_loss(model, ids, y)
    lam, perm = out.details["lam"], out.details["perm"]
    assert out.details["level"] == "embeddings"
    embedded = model.embedding.weight[ids]
    assert torch.allclose(seen[0], lam * embedded + (1 - lam) * embedded[perm], atol=1e-6)


def test_embedding_level_on_bert_widens_the_attention_mask_to_both_examples() -> None:
    model = tiny_bert(dropout=0.0)
    batch = token_batch()
    masks = []
    original = model.bert.forward

    def spy(*args, **kwargs):
        masks.append(kwargs["attention_mask"])
        return original(*args, **kwargs)

    model.bert.forward = spy
    out = Mixup(MixupConfig(level="embeddings")).training_loss(model, batch)
    perm, mask = out.details["perm"], batch["attention_mask"]
    assert torch.equal(masks[0], torch.maximum(mask, mask[perm]))


@pytest.mark.parametrize("make", [lambda: mlp(dropout=0.0), lambda: SmallCNN(dropout=0.0)])
def test_pooled_level_mixes_the_input_of_the_head(make) -> None:
    model = make().eval()  # deterministic, so the clean and mixed passes can be compared
    x = torch.randn(6, 8) if isinstance(model, nn.Sequential) else torch.randn(6, 3, 8, 8)
    y = torch.arange(6) % NUM_CLASSES
    clean = model(x)
    out = Mixup(MixupConfig(level="pooled")).training_loss(model, x, y)
    lam, perm = out.details["lam"], out.details["perm"]
    # the head is linear: mixing its input mixes its output with the same lambda
    assert torch.allclose(out.output, lam * clean + (1 - lam) * clean[perm], atol=1e-5)


def test_pooled_level_on_bert_mixes_what_the_classifier_sees() -> None:
    model = tiny_bert().eval()
    batch = token_batch()
    seen = []
    model.classifier.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        clean = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    out = Mixup(MixupConfig(level="pooled")).training_loss(model, batch)
    lam, perm = out.details["lam"], out.details["perm"]
    assert out.details["level"] == "pooled"
    assert torch.allclose(out.output.logits, lam * clean + (1 - lam) * clean[perm], atol=1e-5)
    assert torch.equal(seen[0], seen[1])  # the test's pre-hook runs before the mix: same pooled


def test_levels_that_do_not_fit_the_model_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="needs an embedding module"):
        Mixup(MixupConfig(level="embeddings")).training_loss(
            mlp(), torch.randn(4, 8), torch.zeros(4, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="head names no module"):
        Mixup(MixupConfig(level="pooled", head="classifer")).training_loss(
            tiny_bert(), token_batch()
        )
