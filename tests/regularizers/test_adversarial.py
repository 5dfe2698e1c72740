"""FGM, PGD and FreeLB: attack directions, epsilon balls, accumulated gradients, intact weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regularizers.toy_models import NUM_CLASSES, LSTMClassifier, SmallCNN, tiny_bert, token_batch
from torch_rdrop import RDrop
from torch_rdrop.regularizers import (
    FGM,
    PGD,
    FGMConfig,
    FreeLB,
    FreeLBConfig,
    PGDConfig,
    build_regularizer,
)


def bert_loss(model: nn.Module, batch: dict, delta: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The clean loss with ``delta`` added to the word embeddings, and those embeddings."""
    seen = []

    def hook(module, args, out):
        out = out if delta is None else out + delta
        out.retain_grad()
        seen.append(out)
        return out

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        loss = F.cross_entropy(model(**inputs).logits, batch["labels"])
    finally:
        handle.remove()
    return loss, seen[0]


def embedding_gradient(model: nn.Module, batch: dict, delta: Tensor | None = None) -> Tensor:
    loss, embedded = bert_loss(model, batch, delta)
    loss.backward()
    model.zero_grad()
    return embedded.grad * batch["attention_mask"].unsqueeze(-1)


def norms(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1)


def grads(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_fgm_steps_epsilon_along_the_gradient_and_trains_on_both_losses() -> None:
    model = tiny_bert().eval()  # no dropout: the passes can be recomputed exactly
    batch = token_batch()
    weights = model.get_input_embeddings().weight.detach().clone()
    g = embedding_gradient(model, batch)

    out = FGM(FGMConfig(epsilon=0.7)).training_loss(model, batch)
    r = out.details["perturbation"]
    assert out.details["site"] == "embeddings"
    assert torch.allclose(norms(r), torch.full((6,), 0.7), atol=1e-6)
    assert torch.allclose(r, 0.7 * g / norms(g).view(-1, 1, 1), atol=1e-6)
    assert torch.all(r[batch["attention_mask"] == 0] == 0)

    out.loss.backward()
    assert torch.equal(model.get_input_embeddings().weight, weights)  # bit-exact, no restore needed
    got = grads(model)
    model.zero_grad()
    clean, _ = bert_loss(model, batch)
    adversarial, _ = bert_loss(model, batch, r)
    assert torch.isclose(out.parts["adversarial"], adversarial.detach(), atol=1e-6)
    (clean + adversarial).backward()
    for name, expected in grads(model).items():
        assert torch.allclose(got[name], expected, atol=1e-6), name


def test_fgm_ignores_gradients_already_accumulated_and_adds_to_them() -> None:
    model = LSTMClassifier().eval()
    ids, y = token_batch(pad_last=False)["input_ids"], torch.arange(6) % NUM_CLASSES
    reference = FGM().training_loss(model, ids, y)
    reference.loss.backward()
    fresh = grads(model)
    garbage = {n: torch.randn_like(p) for n, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.grad = garbage[name].clone()
    again = FGM().training_loss(model, ids, y)
    assert torch.equal(again.details["perturbation"], reference.details["perturbation"])
    again.loss.backward()
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, garbage[name] + fresh[name], atol=1e-6), name


def test_fgm_gradient_is_the_same_under_gradient_accumulation() -> None:
    model = LSTMClassifier().eval()
    ids, y = token_batch(batch=4, pad_last=False)["input_ids"], torch.tensor([0, 1, 2, 0])
    FGM().training_loss(model, ids, y).loss.backward()
    whole = grads(model)
    model.zero_grad()
    for half in (slice(0, 2), slice(2, 4)):
        (FGM().training_loss(model, ids[half], y[half]).loss / 2).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, whole[name], atol=1e-6), name


def test_fgm_perturbs_images_when_the_model_has_no_embeddings() -> None:
    model = SmallCNN()
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    out = FGM(FGMConfig(epsilon=0.5)).training_loss(model, x, y)
    assert out.details["site"] == "inputs"
    assert torch.allclose(norms(out.details["perturbation"]), torch.full((4,), 0.5), atol=1e-6)


@pytest.mark.parametrize(("step_size", "epsilon"), [(2.0, 0.5), (0.1, 1.0)])
def test_pgd_stays_inside_the_epsilon_ball(step_size: float, epsilon: float) -> None:
    model = tiny_bert().eval()
    batch = token_batch()
    g = embedding_gradient(model, batch)
    config = PGDConfig(epsilon=epsilon, step_size=step_size, steps=3)
    out = PGD(config).training_loss(model, batch)
    iterates = out.details["perturbations"]
    assert len(iterates) == 3
    for r in iterates:
        assert norms(r).max() <= epsilon + 1e-5
    first = step_size * g / norms(g).view(-1, 1, 1)
    if step_size > epsilon:  # the projection is active: every step ends on the sphere
        assert torch.allclose(norms(iterates[-1]), torch.full((6,), epsilon), atol=1e-5)
        assert torch.allclose(iterates[0], first * epsilon / step_size, atol=1e-6)
    else:  # a first step of exactly step_size along the clean gradient, then more ascent
        assert torch.allclose(iterates[0], first, atol=1e-6)
        assert norms(iterates[-1]).min() > step_size
    adversarial, _ = bert_loss(model, batch, iterates[-1])
    assert torch.isclose(out.parts["adversarial"], adversarial.detach(), atol=1e-6)
    assert out.parts["adversarial"] > out.parts["task"]  # the attack raised the loss


def test_freelb_accumulates_the_average_gradient_of_its_k_steps() -> None:
    model = tiny_bert().eval()
    batch = token_batch()
    weights = model.get_input_embeddings().weight.detach().clone()
    config = FreeLBConfig(steps=3, step_size=0.1, init_magnitude=0.6)
    out = FreeLB(config).training_loss(model, batch)
    deltas = out.details["perturbations"]
    assert len(deltas) == 3
    out.loss.backward()
    got = grads(model)
    assert torch.equal(model.get_input_embeddings().weight, weights)
    model.zero_grad()

    pad = batch["attention_mask"] == 0
    assert torch.all(deltas[0][pad] == 0)  # the random start: zero at padding, small elsewhere
    lengths = batch["attention_mask"].sum(1) * deltas[0].shape[-1]
    bound = 0.6 / lengths.sqrt()
    assert torch.all(deltas[0].abs().amax(dim=(1, 2)) <= bound + 1e-7)
    for t in range(2):  # each step ascends along the normalised gradient at the previous one
        g = embedding_gradient(model, batch, deltas[t])
        expected = deltas[t] + 0.1 * g / norms(g).view(-1, 1, 1)
        assert torch.allclose(deltas[t + 1], expected, atol=1e-6)

    total = sum(bert_loss(model, batch, d)[0] for d in deltas) / 3
    assert torch.isclose(out.loss, total, atol=1e-6)
    total.backward()
    for name, expected in grads(model).items():
        assert torch.allclose(got[name], expected, atol=1e-6), name


def test_freelb_projects_onto_its_max_norm() -> None:
    model = tiny_bert().eval()
    config = FreeLBConfig(steps=3, step_size=1.0, epsilon=0.2)
    out = FreeLB(config).training_loss(model, token_batch())
    for delta in out.details["perturbations"][1:]:
        assert torch.allclose(norms(delta), torch.full((6,), 0.2), atol=1e-6)


def test_rdrop_plus_fgm_adds_the_rdrop_loss_at_the_clean_and_the_adversarial_point() -> None:
    model = LSTMClassifier(dropout=0.2)
    ids, y = token_batch(pad_last=False)["input_ids"], torch.arange(6) % NUM_CLASSES
    torch.manual_seed(5)
    out = build_regularizer("rdrop+fgm", alpha=0.5, epsilon=0.3).training_loss(model, ids, y)
    assert set(out.parts) == {"task", "consistency", "adversarial"}
    assert torch.isclose(out.loss.detach(), sum(out.parts.values()))

    torch.manual_seed(5)  # the same dropout masks, by hand: R-Drop, attack, R-Drop again
    rdrop = RDrop(model, alpha=0.5)
    delta = torch.zeros(12, 7, 16, requires_grad=True)  # the concat layout stacks 2 copies
    with_delta = model.embedding.register_forward_hook(lambda m, a, out: out + delta)
    clean = rdrop(ids, target=y)
    with_delta.remove()
    (g,) = torch.autograd.grad(clean.loss, delta)
    r = 0.3 * g / norms(g).view(-1, 1, 1)
    with_r = model.embedding.register_forward_hook(lambda m, a, out: out + r)
    adversarial = rdrop(ids, target=y)
    with_r.remove()
    assert torch.allclose(out.details["perturbation"], r, atol=1e-6)
    assert torch.isclose(out.parts["task"], clean.task_loss, atol=1e-6)
    assert torch.isclose(out.parts["consistency"], 0.5 * clean.consistency, atol=1e-6)
    assert torch.isclose(out.parts["adversarial"], adversarial.loss, atol=1e-6)
    assert clean.consistency > 0 and adversarial.consistency > 0


def test_embedding_methods_refuse_models_without_embeddings() -> None:
    class OneHot(nn.Module):  # token ids in, no embedding module, no floating input
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(10, NUM_CLASSES)

        def forward(self, ids: Tensor) -> Tensor:
            return self.head(F.one_hot(ids, 10).float().mean(1))

    ids, y = torch.randint(0, 10, (4, 5)), torch.tensor([0, 1, 2, 0])
    for method in ("fgm", "pgd", "freelb"):
        with pytest.raises(ValueError, match="found no input embedding module in OneHot"):
            build_regularizer(method).training_loss(OneHot(), ids, y)
    with pytest.raises(ValueError, match="site='embeddings' needs an input embedding module"):
        FGM(FGMConfig(site="embeddings")).training_loss(SmallCNN(), torch.randn(4, 3, 8, 8), y)
    with pytest.raises(ValueError, match="embedding names no module of LSTMClassifier: 'embed'"):
        FGM(FGMConfig(embedding="embed")).training_loss(LSTMClassifier(), ids, y)


def test_hooks_are_removed_even_when_the_forward_fails() -> None:
    model = LSTMClassifier()
    bad_target = torch.tensor([0, 1, 7, 0])  # class 7 of 3: the task loss raises
    with pytest.raises(ValueError, match="class indices outside"):
        FGM().training_loss(model, torch.randint(1, 10, (4, 5)), bad_target)
    assert not model.embedding._forward_hooks
