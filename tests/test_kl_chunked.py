"""The memory-efficient KL: float64 gradcheck of its analytic backward, and its chunking."""

from __future__ import annotations

import pytest
import torch

from reference import symmetric_kl_rows
from torch_rdrop._kl_chunked import default_chunk_rows, symmetric_kl_rows_chunked
from torch_rdrop.functional import symmetric_kl


@pytest.mark.parametrize("chunk_rows", [1, 3, 64])
def test_gradcheck_float64(chunk_rows) -> None:
    a = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, y: symmetric_kl_rows_chunked(x, y, chunk_rows), (a, b)
    )


def test_gradcheck_through_mask_and_reduction() -> None:
    a = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [False, True, True, False]])
    assert torch.autograd.gradcheck(
        lambda x, y: symmetric_kl(x, y, mask=mask, chunk_size=3), (a, b)
    )


def test_values_match_definition_for_every_chunking() -> None:
    a, b = torch.randn(4, 5, 9), torch.randn(4, 5, 9)
    expected = symmetric_kl_rows(a, b)
    for chunk_rows in (1, 2, 7, 20, 100):
        got = symmetric_kl_rows_chunked(a, b, chunk_rows)
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


def test_gradient_only_for_inputs_that_need_it() -> None:
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4)
    (grad,) = torch.autograd.grad(symmetric_kl_rows_chunked(a, b, 2).sum(), (a,))
    assert grad.shape == a.shape


def test_default_chunk_rows_bounds_the_chunk_size() -> None:
    assert default_chunk_rows(32000) * 32000 <= 1 << 16
    assert default_chunk_rows(10**9) == 1
    assert default_chunk_rows(10) == (1 << 16) // 10


def test_non_contiguous_inputs() -> None:
    a = torch.randn(6, 4, 5).transpose(0, 1)
    b = torch.randn(6, 4, 5).transpose(0, 1)
    torch.testing.assert_close(symmetric_kl_rows_chunked(a, b, 3).double(), symmetric_kl_rows(a, b))
