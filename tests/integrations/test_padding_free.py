"""Sequence boundaries of stacked padding-free batches, and the next-token metrics (torch only)."""

from __future__ import annotations

import pytest
import torch

from torch_rdrop.integrations.padding_free import is_padding_free, stack_sequence_boundaries
from torch_rdrop.integrations.token_metrics import next_token_sums
from torch_rdrop.layout import stack_copies


def packed_batch() -> dict:
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]])
    return {
        "input_ids": torch.arange(9).view(1, 9),
        "position_ids": positions,
        "cu_seq_lens_q": torch.tensor([0, 3, 5, 9], dtype=torch.int32),
        "cu_seq_lens_k": torch.tensor([0, 3, 5, 9], dtype=torch.int32),
        "max_length_q": 4,
    }


@pytest.mark.parametrize("passes", [2, 3])
@pytest.mark.parametrize("layout", ["concat", "interleave"])
def test_boundaries_mark_every_restart_of_the_stacked_positions(passes, layout) -> None:
    batch = stack_sequence_boundaries(packed_batch(), passes, layout)
    stacked = stack_copies(batch, 1, passes, layout)
    flat = stacked["position_ids"].flatten()
    starts = [*(flat == 0).nonzero().flatten().tolist(), flat.numel()]
    assert stacked["input_ids"].shape == (passes, 9)
    assert stacked["cu_seq_lens_q"].tolist() == starts == stacked["cu_seq_lens_k"].tolist()
    assert stacked["cu_seq_lens_q"].dtype == torch.int32
    assert stacked["max_length_q"] == 4  # the longest sequence is the same


def test_sequential_passes_keep_the_boundaries() -> None:
    batch = packed_batch()
    out = stack_sequence_boundaries(batch, 2, "sequential")
    assert out["cu_seq_lens_q"] is batch["cu_seq_lens_q"]


def test_bad_boundaries_and_layouts_are_refused() -> None:
    batch = packed_batch()
    with pytest.raises(ValueError, match=r"cu_seq_lens_q must be the cumulative lengths of the 9"):
        stack_sequence_boundaries({**batch, "cu_seq_lens_q": torch.tensor([0, 3, 7])}, 2, "concat")
    two_rows = {**batch, "input_ids": torch.zeros(2, 9), "cu_seq_lens_q": torch.tensor([0, 18])}
    two_rows.pop("cu_seq_lens_k")
    with pytest.raises(ValueError, match="layout 'interleave' cannot stack .* 2 rows"):
        stack_sequence_boundaries(two_rows, 2, "interleave")
    with pytest.raises(ValueError, match="layout must be one of"):
        stack_sequence_boundaries(batch, 2, "side-by-side")


def test_padding_free_batches_are_recognised() -> None:
    assert is_padding_free(packed_batch())
    padded = {"input_ids": torch.ones(2, 3), "attention_mask": torch.ones(2, 3)}
    assert not is_padding_free(padded)
    assert not is_padding_free({**padded, "position_ids": torch.zeros(2, 3)})


def test_next_token_sums_match_a_plain_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 5, generator=gen)
    labels = torch.randint(0, 5, (3, 6), generator=gen)
    labels[0, :3] = -100
    labels[2, 4:] = -100
    entropy, correct, count = 0.0, 0, 0
    for row in range(3):
        for t in range(5):
            label = labels[row, t + 1].item()
            if label == -100:
                continue
            p = torch.softmax(logits[row, t].double(), -1)
            entropy -= (p * p.log()).sum().item()
            correct += int(logits[row, t].argmax().item() == label)
            count += 1
    sums = next_token_sums(logits, labels)
    assert sums.count.item() == count and sums.correct.item() == correct
    assert sums.entropy.item() == pytest.approx(entropy, rel=1e-6)
    with pytest.raises(ValueError, match=r"logits \(3, 6, 5\) must be labels \(3, 5\)"):
        next_token_sums(logits, labels[:, :5])
