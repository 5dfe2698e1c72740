"""Divergences and the R-Drop loss against plain transcriptions of their formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference import (
    js_rows,
    reduce_reference,
    seed_compute_kl_loss,
    symmetric_kl_rows,
)
from torch_rdrop.functional import (
    consistency,
    consistency_mask_from_target,
    cross_entropy,
    js_divergence,
    mse_consistency,
    rdrop_loss,
    symmetric_kl,
)

SHAPES = [(5,), (4, 7), (3, 6, 11), (2, 3, 4, 9)]
REDUCTIONS = ["batchmean", "sum", "mean", "none"]


def _mask_for(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape[:-1], generator=gen) > 0.4


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("masked", [False, True])
def test_symmetric_kl_matches_reference(shape, reduction, masked) -> None:
    a, b = torch.randn(shape) * 3, torch.randn(shape) * 3
    mask = _mask_for(shape) if masked and len(shape) > 1 else None
    expected = reduce_reference(symmetric_kl_rows(a, b), mask, reduction, shape[-1])
    got = symmetric_kl(a, b, mask=mask, reduction=reduction)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_chunked_path_equals_plain_path(reduction) -> None:
    a = torch.randn(3, 10, 50, requires_grad=True)
    b = torch.randn(3, 10, 50, requires_grad=True)
    mask = _mask_for((3, 10, 50))
    plain = symmetric_kl(a, b, mask=mask, reduction=reduction)
    chunked = symmetric_kl(a, b, mask=mask, reduction=reduction, chunk_size=7)
    torch.testing.assert_close(chunked, plain)
    weights = torch.randn_like(plain)
    grads_plain = torch.autograd.grad((plain * weights).sum(), (a, b))
    grads_chunked = torch.autograd.grad((chunked * weights).sum(), (a, b))
    for g_plain, g_chunked in zip(grads_plain, grads_chunked, strict=True):
        torch.testing.assert_close(g_chunked, g_plain, rtol=1e-5, atol=1e-7)


def test_seed_snippet_reproduced_exactly() -> None:
    p, q = torch.randn(4, 9, 13), torch.randn(4, 9, 13)
    pad = torch.zeros(4, 9, dtype=torch.bool)
    pad[:, 6:] = True
    seed_value = seed_compute_kl_loss(p, q, pad.unsqueeze(-1).expand_as(p))
    torch.testing.assert_close(symmetric_kl(p, q, mask=~pad, reduction="sum"), seed_value)
    torch.testing.assert_close(symmetric_kl(p, q, reduction="sum"), seed_compute_kl_loss(p, q))


def test_js_and_mse_match_definitions() -> None:
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    torch.testing.assert_close(js_divergence(a, b, reduction="none").double(), js_rows(a, b))
    torch.testing.assert_close(mse_consistency(a, b, reduction="none"), ((a - b) ** 2).sum(-1))
    assert js_divergence(a, b).item() <= math.log(2)


def test_js_chunked_equals_plain_including_gradients() -> None:
    a = torch.randn(9, 6, requires_grad=True)
    b = torch.randn(9, 6, requires_grad=True)
    plain, chunked = js_divergence(a, b), js_divergence(a, b, chunk_size=4)
    torch.testing.assert_close(chunked, plain)
    torch.testing.assert_close(torch.autograd.grad(chunked, a)[0], torch.autograd.grad(plain, a)[0])


def test_identical_inputs_give_zero_and_divergences_are_symmetric() -> None:
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    for fn in (symmetric_kl, js_divergence, mse_consistency):
        assert fn(a, a).item() == pytest.approx(0.0, abs=1e-7)
        torch.testing.assert_close(fn(a, b), fn(b, a))


def test_extreme_logits_stay_finite_and_exact() -> None:
    a = torch.tensor([[1e4, 0.0, -1e4]])
    b = torch.tensor([[0.0, 1e4, -1e4]])
    value = symmetric_kl(a, b)
    assert torch.isfinite(value)
    # p and q are one-hot on different classes: each KL equals the logit gap 1e4.
    assert value.item() == pytest.approx(1e4, rel=1e-6)
    a.requires_grad_(True)
    grad = torch.autograd.grad(symmetric_kl(a, b, chunk_size=1), a)[0]
    assert torch.isfinite(grad).all()


def test_bf16_inputs_computed_in_fp32() -> None:
    a, b = torch.randn(4, 16, 32), torch.randn(4, 16, 32)
    full = symmetric_kl(a, b)
    half = symmetric_kl(a.bfloat16(), b.bfloat16())
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=2e-2, atol=1e-3)
    a16 = a.bfloat16().requires_grad_(True)
    grad = torch.autograd.grad(symmetric_kl(a16, b.bfloat16(), chunk_size=8), a16)[0]
    assert grad.dtype == torch.bfloat16 and torch.isfinite(grad.float()).all()


def test_all_false_mask_gives_zero_not_nan() -> None:
    a = torch.randn(3, 4, 5, requires_grad=True)
    b = torch.randn(3, 4, 5)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    for reduction in ("batchmean", "sum", "mean"):
        value = symmetric_kl(a, b, mask=mask, reduction=reduction)
        assert value.item() == 0.0
        (grad,) = torch.autograd.grad(value, a)
        assert torch.count_nonzero(grad) == 0


def test_large_logits_take_the_chunked_path_automatically() -> None:
    a = torch.randn(2, 64, 9000, requires_grad=True)
    b = torch.randn(2, 64, 9000)
    value = symmetric_kl(a, b)
    assert any("SymmetricKLRows" in type(fn).__name__ for fn in _walk(value.grad_fn))
    expected = symmetric_kl_rows(a.detach(), b).mean()
    torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-6)


def _walk(fn, depth: int = 6):
    if fn is None or depth == 0:
        return
    yield fn
    for child, _ in fn.next_functions:
        yield from _walk(child, depth - 1)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_reduction_conventions_relate_as_documented() -> None:
    a, b = torch.randn(3, 5, 7), torch.randn(3, 5, 7)
    mask = _mask_for((3, 5, 7))
    kept = int(mask.sum())
    total = symmetric_kl(a, b, mask=mask, reduction="sum")
    torch.testing.assert_close(symmetric_kl(a, b, mask=mask) * kept, total)
    torch.testing.assert_close(symmetric_kl(a, b, mask=mask, reduction="mean") * kept * 7, total)
    # "mean" without a mask is F.kl_div's elementwise mean of the two directions, halved.
    pa, pb = F.log_softmax(a, -1), F.log_softmax(b, -1)
    kl_div_mean = 0.5 * (
        F.kl_div(pb, pa, log_target=True, reduction="mean")
        + F.kl_div(pa, pb, log_target=True, reduction="mean")
    )
    torch.testing.assert_close(symmetric_kl(a, b, reduction="mean"), kl_div_mean)


def test_consistency_over_k_passes_and_detach() -> None:
    outs = [torch.randn(4, 6, requires_grad=True) for _ in range(3)]
    expected = (
        symmetric_kl(outs[0], outs[1])
        + symmetric_kl(outs[0], outs[2])
        + symmetric_kl(outs[1], outs[2])
    ) / 3
    torch.testing.assert_close(consistency(outs), expected)
    pulled = consistency(outs, detach=True)
    torch.testing.assert_close(
        pulled, (symmetric_kl(outs[0], outs[1]) + symmetric_kl(outs[0], outs[2])) / 2
    )
    grads = torch.autograd.grad(pulled, outs, allow_unused=True)
    assert grads[0] is None
    assert all(g is not None and g.abs().sum() > 0 for g in grads[1:])


def test_rdrop_loss_is_mean_task_plus_alpha_consistency() -> None:
    l1, l2 = torch.randn(5, 4), torch.randn(5, 4)
    target = torch.tensor([0, 3, 1, 2, 1])
    result = rdrop_loss([l1, l2], target, alpha=0.7)
    task = 0.5 * (F.cross_entropy(l1, target) + F.cross_entropy(l2, target))
    torch.testing.assert_close(result.task_loss, task)
    torch.testing.assert_close(result.consistency, symmetric_kl(l1, l2))
    torch.testing.assert_close(result.loss, task + 0.7 * symmetric_kl(l1, l2))
    loss, task_loss, term = result
    assert loss is result.loss and task_loss is result.task_loss and term is result.consistency


def test_official_scaling_reproduced_with_sum_reduction() -> None:
    l1, l2 = torch.randn(8, 3), torch.randn(8, 3)
    target = torch.randint(0, 3, (8,))
    ours = rdrop_loss([l1, l2], target, alpha=4.0, reduction="sum").loss
    ce = 0.5 * (F.cross_entropy(l1, target) + F.cross_entropy(l2, target))
    torch.testing.assert_close(ours, ce + 4.0 * seed_compute_kl_loss(l1, l2))


def test_token_targets_mask_padding_out_of_consistency() -> None:
    l1, l2 = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    target = torch.tensor([[1, 2, 3, -100, -100], [4, 5, -100, -100, -100]])
    result = rdrop_loss([l1, l2], target, alpha=1.0)
    torch.testing.assert_close(result.consistency, symmetric_kl(l1, l2, mask=target != -100))


def test_semi_supervised_unlabelled_examples_count_in_consistency_only() -> None:
    l1 = torch.randn(4, 3, requires_grad=True)
    l2 = torch.randn(4, 3)
    target = torch.tensor([0, 2, -100, -100])
    result = rdrop_loss([l1, l2], target, alpha=1.0)
    torch.testing.assert_close(
        result.task_loss,
        0.5 * (F.cross_entropy(l1[:2], target[:2]) + F.cross_entropy(l2[:2], target[:2])),
    )
    torch.testing.assert_close(result.consistency, symmetric_kl(l1, l2))
    task_grad = torch.autograd.grad(result.task_loss, l1)[0]
    assert torch.count_nonzero(task_grad[2:]) == 0
    term_grad = torch.autograd.grad(result.consistency, l1)[0]
    assert torch.count_nonzero(term_grad[2:]) > 0


def test_token_level_unlabelled_sequences_keep_their_positions() -> None:
    target = torch.tensor([[1, -100, -100], [-100, -100, -100]])
    mask = consistency_mask_from_target(target)
    assert mask.tolist() == [[True, False, False], [True, True, True]]
    assert consistency_mask_from_target(torch.tensor([1, -100])) is None


def test_fully_unlabelled_batch_has_zero_task_loss() -> None:
    l1, l2 = torch.randn(3, 4), torch.randn(3, 4)
    result = rdrop_loss([l1, l2], torch.full((3,), -100), alpha=1.0)
    assert result.task_loss.item() == 0.0
    result_none = rdrop_loss([l1, l2], None, alpha=2.0)
    torch.testing.assert_close(result_none.loss, 2.0 * symmetric_kl(l1, l2))


def test_custom_task_loss_and_regression_with_mse() -> None:
    y1, y2 = torch.randn(6, 1), torch.randn(6, 1)
    target = torch.randn(6, 1)
    result = rdrop_loss([y1, y2], target, alpha=0.5, task_loss=F.mse_loss, divergence="mse")
    task = 0.5 * (F.mse_loss(y1, target) + F.mse_loss(y2, target))
    torch.testing.assert_close(result.loss, task + 0.5 * ((y1 - y2) ** 2).sum() / 6)


def test_soft_targets_accepted_by_cross_entropy() -> None:
    logits = torch.randn(3, 4)
    soft = torch.softmax(torch.randn(3, 4), -1)
    expected = -(soft * F.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(cross_entropy(logits, soft), expected)
