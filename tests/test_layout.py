"""Stacking copies of nested batches and splitting outputs back."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import pytest
import torch

from torch_rdrop.layout import batch_size_of, split_copies, stack_copies

Pair = namedtuple("Pair", "ids extra")


@pytest.mark.parametrize("layout", ["concat", "interleave"])
@pytest.mark.parametrize("passes", [2, 3])
def test_split_inverts_stack_in_nested_structures(layout, passes) -> None:
    batch = OrderedDict(
        ids=torch.arange(8).view(4, 2),
        nested=[Pair(torch.randn(4, 3), "keep"), (torch.randn(4),)],
        shared=torch.randn(5, 2),
        scalar=torch.tensor(3.0),
    )
    stacked = stack_copies(batch, 4, passes, layout)
    assert isinstance(stacked, OrderedDict)
    assert stacked["ids"].shape == (4 * passes, 2)
    assert stacked["shared"] is batch["shared"] and stacked["scalar"] is batch["scalar"]
    assert isinstance(stacked["nested"][0], Pair) and stacked["nested"][0].extra == "keep"
    for part in split_copies(stacked, 4, passes, layout):
        torch.testing.assert_close(part["ids"], batch["ids"])
        torch.testing.assert_close(part["nested"][0].ids, batch["nested"][0].ids)
        torch.testing.assert_close(part["nested"][1][0], batch["nested"][1][0])


def test_layouts_place_copies_as_documented() -> None:
    x = torch.tensor([10, 20, 30])
    assert stack_copies(x, 3, 2, "concat").tolist() == [10, 20, 30, 10, 20, 30]
    assert stack_copies(x, 3, 2, "interleave").tolist() == [10, 10, 20, 20, 30, 30]


def test_batch_size_from_the_first_batched_tensor() -> None:
    assert batch_size_of(((torch.tensor(1.0), torch.zeros(7, 2)), {})) == 7
    with pytest.raises(ValueError, match="no tensor with a batch dimension"):
        batch_size_of(((torch.tensor(1.0),), {"a": "text"}))


def test_sequential_layout_does_not_stack() -> None:
    with pytest.raises(ValueError, match="sequential"):
        stack_copies(torch.zeros(2), 2, 2, "sequential")
