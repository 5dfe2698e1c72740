"""Every method trains a BERT-style encoder, a CNN and an LSTM; evaluation stays the bare model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from regularizers.toy_models import LSTMClassifier, SmallCNN, image_batch, tiny_bert, token_batch
from torch_rdrop.regularizers import METHODS, build_regularizer


def bert_case():
    return tiny_bert(), token_batch(), None


def cnn_case():
    images, labels = image_batch()
    return SmallCNN(), images, labels


def lstm_case():
    batch = token_batch()
    return LSTMClassifier(), batch["input_ids"], batch["labels"]


CASES = {"bert": bert_case, "cnn": cnn_case, "lstm": lstm_case}
OPTIONS = {"tmix": {"layers": (0, 1)}}  # TMix's {7, 9, 12} needs 12 blocks; these have 1 to 4


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def eval_output(model: nn.Module, batch, target) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        if isinstance(batch, dict):
            out = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        else:
            out = model(batch)
    model.train()
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", METHODS)
def test_method_trains_each_model_and_leaves_evaluation_alone(method: str, case: str) -> None:
    model, batch, target = CASES[case]()
    model.train()
    before_eval = eval_output(model, batch, target)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    hooks = hook_count(model)
    regularizer = build_regularizer(method, **OPTIONS.get(method, {}))

    out = regularizer.training_loss(model, batch, target)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert torch.allclose(out.loss.detach(), sum(out.parts.values()), atol=1e-5)
    assert hook_count(model) == hooks
    # the method wrote no parameter: evaluation before the step is exactly what it was
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert torch.equal(eval_output(model, batch, target), before_eval)

    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    changed = [not torch.equal(p, before[n]) for n, p in model.named_parameters()]
    assert sum(changed) > len(changed) // 2
