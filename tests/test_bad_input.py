"""Every bad input gets a ValueError that names the argument and the shapes or values seen."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_rdrop import RDrop, RDropLoss, rdrop_loss, symmetric_kl
from torch_rdrop.functional import js_divergence, mse_consistency
from torch_rdrop.regularizers.rdrop import RDropConfig
from torch_rdrop.schedules import LinearWarmup


@pytest.mark.parametrize("fn", [symmetric_kl, js_divergence, mse_consistency])
def test_shape_mismatch_even_when_broadcastable(fn) -> None:
    with pytest.raises(ValueError, match=r"same shape.*\(8, 5\) and \(1, 5\)"):
        fn(torch.randn(8, 5), torch.randn(1, 5))
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(4, 6\)"):
        fn(torch.randn(4, 3), torch.randn(4, 6))


def test_mask_shape_dtype_and_type() -> None:
    a, b = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    with pytest.raises(ValueError, match=r"mask must have the leading shape.*\(2, 3\).*\(2, 4\)"):
        symmetric_kl(a, b, mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be boolean.*torch.int64"):
        symmetric_kl(a, b, mask=torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="mask must be a boolean torch.Tensor, got list"):
        symmetric_kl(a, b, mask=[[True] * 3] * 2)


def test_unknown_reduction_layout_divergence() -> None:
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match="reduction must be one of.*'avg'"):
        symmetric_kl(a, b, reduction="avg")
    with pytest.raises(ValueError, match="layout must be one of.*'stacked'"):
        RDrop(nn.Linear(2, 2), layout="stacked")
    with pytest.raises(ValueError, match="divergence must be one of.*'hellinger'"):
        rdrop_loss([a, b], None, alpha=1.0, divergence="hellinger")


def test_unknown_divergence_refused_at_construction() -> None:
    # refused where it is written, not at the first training step
    known = r"\('kl', 'js', 'mse', 'multilabel'\) or a callable, got 'hellinger'"
    with pytest.raises(ValueError, match=known):
        RDrop(nn.Linear(2, 2), divergence="hellinger")
    with pytest.raises(ValueError, match=known):
        RDropLoss(divergence="hellinger")
    with pytest.raises(ValueError, match="divergence must be one of"):
        RDrop(nn.Linear(2, 2), divergence=3)
    with pytest.raises(ValueError, match=known):
        RDropConfig(divergence="hellinger")
    RDrop(nn.Linear(2, 2), divergence="multilabel")  # every known name is accepted
    RDropConfig(divergence="multilabel")


def test_alpha_and_passes() -> None:
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0, got -0\.5"):
        rdrop_loss([a, b], None, alpha=-0.5)
    with pytest.raises(ValueError, match="alpha must be"):
        RDrop(nn.Linear(2, 2), alpha=-1.0)
    with pytest.raises(ValueError, match="alpha must be"):
        RDropLoss(alpha=float("nan"))
    with pytest.raises(ValueError, match="passes must be an integer >= 2.*got 1"):
        RDrop(nn.Linear(2, 2), passes=1)
    with pytest.raises(ValueError, match="outputs must hold at least 2 passes, got 1"):
        rdrop_loss([a], None, alpha=1.0)
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 0"):
        LinearWarmup(alpha=1.0, warmup_steps=-3)


def test_passes_of_different_shapes_in_the_loss() -> None:
    with pytest.raises(ValueError, match=r"outputs\[0\] and outputs\[2\].*\(4, 3\) and \(4, 2\)"):
        rdrop_loss([torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 2)], None, alpha=1.0)


def test_labels_out_of_range() -> None:
    logits = [torch.randn(3, 4), torch.randn(3, 4)]
    with pytest.raises(ValueError, match=r"outside \[0, 4\).*max 7"):
        rdrop_loss(logits, torch.tensor([0, 7, 1]), alpha=1.0)
    with pytest.raises(ValueError, match=r"outside \[0, 4\).*min -1"):
        rdrop_loss(logits, torch.tensor([0, -1, 1]), alpha=1.0)
    with pytest.raises(ValueError, match=r"target must have the leading shape.*\(3,\).*\(4,\)"):
        rdrop_loss(logits, torch.tensor([0, 1, 1, 2]), alpha=1.0)


def test_nan_or_inf_logits_named() -> None:
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    b[1, 2] = float("nan")
    with pytest.raises(ValueError, match="not finite.*logits_b"):
        symmetric_kl(a, b)
    a[0, 0] = float("inf")
    with pytest.raises(ValueError, match="logits_a, logits_b"):
        symmetric_kl(a, b, chunk_size=2)


def test_integer_logits_and_scalars_refused() -> None:
    with pytest.raises(ValueError, match="logits_a must be a floating tensor"):
        symmetric_kl(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one dimension"):
        symmetric_kl(torch.tensor(1.0), torch.tensor(2.0))
    with pytest.raises(ValueError, match="chunk_size must be None or a positive row count"):
        symmetric_kl(torch.randn(2, 3), torch.randn(2, 3), chunk_size=0)


def test_model_output_without_logits() -> None:
    class Pair(nn.Module):
        def forward(self, x):
            return {"scores": nn.functional.dropout(x, 0.5)}

    with pytest.raises(ValueError, match="cannot find the logits.*dict.*logits_fn"):
        RDrop(Pair())(torch.randn(4, 3), target=torch.zeros(4, dtype=torch.long))


def test_wrapper_refuses_non_module_and_none_reduction() -> None:
    with pytest.raises(ValueError, match="model must be a torch.nn.Module, got function"):
        RDrop(lambda x: x)
    with pytest.raises(ValueError, match="reduction 'none'"):
        RDrop(nn.Linear(2, 2), reduction="none")
