"""Property tests over shapes, masks and reductions."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_rdrop.functional import js_divergence, mse_consistency, symmetric_kl

DIVERGENCES = [symmetric_kl, js_divergence, mse_consistency]


@st.composite
def logits_pair(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    classes = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))
    gen = torch.Generator().manual_seed(seed)
    full = (*shape, classes)
    a = torch.randn(full, generator=gen) * scale
    b = torch.randn(full, generator=gen) * scale
    mask = torch.rand(tuple(shape), generator=gen) > draw(st.sampled_from([0.0, 0.5, 1.0]))
    chunk = draw(st.sampled_from([None, 1, 3]))
    return a, b, mask, chunk


@settings(max_examples=60, deadline=None)
@given(logits_pair(), st.sampled_from(DIVERGENCES))
def test_symmetric_nonnegative_and_zero_on_identical(pair, fn) -> None:
    a, b, mask, chunk = pair
    ab = fn(a, b, mask=mask, reduction="none", chunk_size=chunk)
    ba = fn(b, a, mask=mask, reduction="none", chunk_size=chunk)
    torch.testing.assert_close(ab, ba, rtol=1e-5, atol=1e-5)
    assert (ab >= -1e-6).all()
    assert fn(a, a, mask=mask, chunk_size=chunk).abs().item() < 1e-5
    assert (ab[~mask] == 0).all()


@settings(max_examples=60, deadline=None)
@given(logits_pair(), st.sampled_from(DIVERGENCES))
def test_reductions_relate_through_kept_rows(pair, fn) -> None:
    a, b, mask, chunk = pair
    kept = int(mask.sum())
    total = fn(a, b, mask=mask, reduction="sum", chunk_size=chunk)
    per_row = fn(a, b, mask=mask, reduction="batchmean", chunk_size=chunk)
    per_element = fn(a, b, mask=mask, reduction="mean", chunk_size=chunk)
    none = fn(a, b, mask=mask, reduction="none", chunk_size=chunk)
    torch.testing.assert_close(none.sum(), total, rtol=1e-5, atol=1e-4)
    if kept == 0:
        assert total.item() == per_row.item() == per_element.item() == 0.0
    else:
        torch.testing.assert_close(per_row * kept, total, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(per_element * kept * a.shape[-1], total, rtol=1e-5, atol=1e-4)
