"""The fused R-Drop LM head against the materialised path: values, gradients, statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from torch_rdrop.functional import consistency, cross_entropy, rdrop_loss
from torch_rdrop.lm_head import default_chunk_tokens, fused_rdrop_lm_loss

B, T, H, V = 3, 7, 6, 23


def make_inputs(passes=2, dtype=torch.float32, bias=True, seed=0, labels_per_row=None):
    gen = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(passes * B, T, H, generator=gen) * 1.5).to(dtype).requires_grad_()
    weight = torch.randn(V, H, generator=gen).to(dtype).requires_grad_()
    b = torch.randn(V, generator=gen).to(dtype).requires_grad_() if bias else None
    labels = torch.randint(0, V, (B, T), generator=gen)
    labels[0, :3] = -100  # a prompt
    labels[2, 5:] = -100  # padding
    return hidden, weight, b, labels


def materialised(hidden, weight, bias, labels, alpha, passes):
    logits = hidden @ weight.t()
    if bias is not None:
        logits = logits + bias
    return rdrop_loss(list(logits.chunk(passes)), labels, alpha, mask=labels != -100)


def grads(loss, *tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


@pytest.mark.parametrize("passes", [2, 3])
@pytest.mark.parametrize("chunk_size", [None, 3, 5])  # 16 labelled tokens: 3 and 5 leave rests
def test_values_and_gradients_equal_the_materialised_path(passes, chunk_size) -> None:
    hidden, weight, bias, labels = make_inputs(passes)
    alpha = 0.7
    fused = fused_rdrop_lm_loss(
        hidden, weight, labels, alpha=alpha, passes=passes, bias=bias, chunk_size=chunk_size
    )
    ref = materialised(hidden, weight, bias, labels, alpha, passes)
    assert ref.consistency > 1e-2  # the passes differ: the KL term matters
    torch.testing.assert_close(fused.loss, ref.loss, rtol=1e-6, atol=0)
    torch.testing.assert_close(fused.task_loss, ref.task_loss, rtol=1e-6, atol=0)
    torch.testing.assert_close(fused.consistency, ref.consistency, rtol=1e-5, atol=0)
    for got, want in zip(
        grads(fused.loss, hidden, weight, bias), grads(ref.loss, hidden, weight, bias), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_the_kl_gradient_is_a_real_part_of_the_gradient() -> None:
    """With alpha large the KL part dominates: a head without it would fail the test above."""
    hidden, weight, bias, labels = make_inputs()
    fused = fused_rdrop_lm_loss(hidden, weight, labels, alpha=5.0, bias=bias)
    task_only = materialised(hidden, weight, bias, labels, 0.0, 2)
    got, want = grads(fused.loss, hidden)[0], grads(task_only.loss, hidden)[0]
    assert (got - want).abs().max() > 1e-2


@pytest.mark.parametrize("passes", [2, 3])
def test_float64_gradcheck(passes) -> None:
    hidden, weight, bias, labels = make_inputs(passes, dtype=torch.float64)
    labels[1, 1] = -100

    def loss(h, w, b):
        return fused_rdrop_lm_loss(h, w, labels, alpha=1.3, passes=passes, bias=b, chunk_size=4)

    inputs = (hidden, weight, bias)
    assert torch.autograd.gradcheck(lambda h, w, b: loss(h, w, b).loss, inputs, fast_mode=True)


def test_gradient_is_scaled_by_the_incoming_gradient() -> None:
    hidden, weight, bias, labels = make_inputs()
    fused = fused_rdrop_lm_loss(hidden, weight, labels, alpha=1.0, bias=bias)
    ref = materialised(hidden, weight, bias, labels, 1.0, 2)
    (0.25 * fused.loss).backward()
    got = hidden.grad.clone(), weight.grad.clone(), bias.grad.clone()
    hidden.grad = weight.grad = bias.grad = None
    (0.25 * ref.loss).backward()
    for a, b in zip(got, (hidden.grad, weight.grad, bias.grad), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_a_second_backward_with_retain_graph_gives_the_same_gradient() -> None:
    hidden, weight, _, labels = make_inputs(bias=False)
    loss = fused_rdrop_lm_loss(hidden, weight, labels, alpha=1.0).loss
    first = torch.autograd.grad(loss, weight, retain_graph=True)[0].clone()
    second = torch.autograd.grad(loss, weight)[0]
    torch.testing.assert_close(second, first, rtol=0, atol=0)


def test_tied_head_gets_the_embedding_and_head_gradients() -> None:
    """A tied head's weight is also the input embedding: both gradients reach it."""
    gen = torch.Generator().manual_seed(1)
    embedding = torch.randn(V, H, generator=gen, requires_grad=True)
    ids = torch.randint(0, V, (B, T), generator=gen)
    mix = torch.randn(H, H, generator=gen)
    dropped = torch.rand(2 * B, T, H, generator=gen) > 0.3

    def hidden_of(weight):
        return torch.tanh(F.embedding(ids.repeat(2, 1), weight) @ mix) * dropped / 0.7

    labels = torch.randint(0, V, (B, T), generator=gen)
    fused = fused_rdrop_lm_loss(hidden_of(embedding), embedding, labels, alpha=1.0, chunk_size=5)
    ref = materialised(hidden_of(embedding), embedding, None, labels, 1.0, 2)
    (got,) = grads(fused.loss, embedding)
    (want,) = grads(ref.loss, embedding)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # untied: the head gradient alone differs from the tied total
    head = embedding.detach().clone().requires_grad_()
    untied = fused_rdrop_lm_loss(hidden_of(embedding), head, labels, alpha=1.0)
    assert (grads(untied.loss, head)[0] - got).abs().max() > 1e-3


def test_bfloat16_inputs_give_bfloat16_gradients_close_to_float32() -> None:
    hidden, weight, bias, labels = make_inputs(dtype=torch.bfloat16)
    fused = fused_rdrop_lm_loss(hidden, weight, labels, alpha=1.0, bias=bias, chunk_size=4)
    got = grads(fused.loss, hidden, weight, bias)
    assert fused.loss.dtype == torch.float32
    assert [g.dtype for g in got] == [torch.bfloat16] * 3
    fp32 = [t.detach().float().requires_grad_() for t in (hidden, weight, bias)]
    ref = materialised(*fp32, labels, 1.0, 2)
    # bf16 logits carry about 3 significant digits
    torch.testing.assert_close(fused.loss, ref.loss, rtol=2e-2, atol=0)
    for a, b in zip(got, grads(ref.loss, *fp32), strict=True):
        scale = b.abs().max()
        assert (a.float() - b).abs().max() < 3e-2 * scale


def test_frozen_head_gets_no_gradient_and_costs_no_buffer() -> None:
    hidden, weight, _, labels = make_inputs(bias=False)
    frozen = weight.detach()
    fused = fused_rdrop_lm_loss(hidden, frozen, labels, alpha=1.0)
    fused.loss.backward()
    assert frozen.grad is None and hidden.grad is not None


def test_statistics_of_the_first_pass() -> None:
    hidden, weight, bias, labels = make_inputs()
    fused = fused_rdrop_lm_loss(hidden, weight, labels, alpha=1.0, bias=bias, chunk_size=4)
    logits = (hidden @ weight.t() + bias).detach()[:B]
    keep = labels != -100
    log_p = logits.log_softmax(-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    assert fused.entropy.item() == pytest.approx(entropy[keep].mean().item(), rel=1e-6)
    correct = (logits.argmax(-1) == labels)[keep]
    assert int(fused.count) == int(keep.sum()) == 16
    assert int(fused.correct) == int(correct.sum())
    # a sure-to-be-right batch: labels are the argmax of the first pass
    sure = logits.argmax(-1)
    assert int(fused_rdrop_lm_loss(hidden, weight, sure, alpha=1.0, bias=bias).correct) == B * T


def test_task_loss_is_the_mean_cross_entropy_of_the_passes() -> None:
    hidden, weight, bias, labels = make_inputs(passes=3)
    fused = fused_rdrop_lm_loss(hidden, weight, labels, alpha=0.0, passes=3, bias=bias)
    logits = list((hidden @ weight.t() + bias).chunk(3))
    ce = torch.stack([cross_entropy(x, labels) for x in logits]).mean()
    term = consistency(logits, mask=labels != -100)
    assert fused.task_loss.item() == pytest.approx(ce.item(), rel=1e-6)
    assert fused.consistency.item() == pytest.approx(term.item(), rel=1e-5)
    assert fused.loss.item() == pytest.approx(ce.item(), rel=1e-6)


def test_flat_token_layout_and_ignored_tokens() -> None:
    hidden, weight, bias, labels = make_inputs()
    flat = hidden.reshape(2, B * T, H).reshape(2 * B * T, H)
    a = fused_rdrop_lm_loss(hidden, weight, labels, alpha=1.0, bias=bias)
    b = fused_rdrop_lm_loss(flat, weight, labels.reshape(-1), alpha=1.0, bias=bias)
    torch.testing.assert_close(a.loss, b.loss)
    # ignored tokens get no gradient
    (grad,) = grads(a.loss, hidden)
    ignored = (labels == -100).repeat(2, 1)
    assert grad[ignored].abs().max() == 0 and grad[~ignored].abs().max() > 0


def test_all_ignored_batch_gives_zero_loss_and_zero_gradient() -> None:
    hidden, weight, bias, labels = make_inputs()
    out = fused_rdrop_lm_loss(hidden, weight, torch.full_like(labels, -100), alpha=1.0, bias=bias)
    assert out.loss.item() == 0.0 and int(out.count) == 0
    for grad in grads(out.loss, hidden, weight, bias):
        assert grad.abs().max() == 0


def test_default_chunk_grows_as_the_vocabulary_shrinks() -> None:
    assert default_chunk_tokens(151_936) < default_chunk_tokens(32_000) < default_chunk_tokens(50)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden": torch.randn(5, T, H)}, r"hidden must be \[passes \* B, \.\.\.\]"),
        ({"hidden": torch.randn(2 * B, T, H + 1)}, r"hidden must be \[\.\.\., 6\]"),
        ({"weight": torch.randn(V)}, r"weight must be \[vocabulary, hidden\]"),
        ({"bias": torch.randn(V + 1)}, r"bias must be None or \[23\]"),
        ({"labels": torch.rand(B, T)}, "labels must be an integer tensor"),
        ({"labels": torch.full((B, T), V)}, r"outside \[0, 23\)"),
        ({"chunk_size": 0}, "chunk_size must be None or a positive"),
        ({"chunk_size": True}, "chunk_size must be None or a positive"),
        ({"alpha": -1.0}, "alpha must be"),
        ({"passes": 1}, "passes must be"),
    ],
)
def test_bad_input_names_the_argument(change, message) -> None:
    hidden, weight, bias, labels = make_inputs()
    call = {"hidden": hidden, "weight": weight, "labels": labels, "bias": bias, "alpha": 1.0}
    call.update(change)
    with pytest.raises(ValueError, match=message):
        fused_rdrop_lm_loss(call.pop("hidden"), call.pop("weight"), call.pop("labels"), **call)


def test_non_finite_hidden_states_are_named() -> None:
    hidden, weight, bias, labels = make_inputs()
    bad = hidden.detach().clone()
    bad[1, 5, 0] = float("nan")
    with pytest.raises(ValueError, match="not finite; NaN or inf found in: hidden"):
        fused_rdrop_lm_loss(bad, weight, labels, alpha=1.0, bias=bias)
