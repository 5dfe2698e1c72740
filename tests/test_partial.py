"""The cheap mode: duplicate the batch only from a chosen module onward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch_rdrop import RDrop


class Tower(nn.Module):
    """Deterministic bottom, stochastic top; the top block takes a batch-dim side input."""

    def __init__(self, bottom_dropout: float = 0.0) -> None:
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(bottom_dropout))
        self.top = TopBlock()
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return self.head(self.top(self.bottom(x), gate))


class TopBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(16, 16)
        self.drop = nn.Dropout(0.3)

    def forward(self, hidden: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.relu(self.linear(hidden))) * gate


@pytest.mark.parametrize("layout", ["concat", "interleave"])
def test_equals_full_duplication_when_the_bottom_is_deterministic(layout) -> None:
    model = Tower()
    x, gate = torch.randn(5, 6), torch.rand(5, 1)
    y = torch.randint(0, 3, (5,))
    torch.manual_seed(4)
    full = RDrop(model, layout=layout)(x, gate, target=y)
    torch.manual_seed(4)
    cheap = RDrop(model, layout=layout, duplicate_from="top")(x, gate, target=y)
    torch.testing.assert_close(cheap.loss, full.loss)
    torch.testing.assert_close(cheap.consistency, full.consistency)
    assert cheap.consistency.item() > 0


def test_bottom_runs_once_on_the_original_batch() -> None:
    model = Tower(bottom_dropout=0.5)
    seen: dict[str, int] = {}

    def record(name: str):
        def hook(module, args, output) -> None:
            seen.setdefault(name, output.shape[0])

        return hook

    model.bottom.register_forward_hook(record("bottom"))
    model.head.register_forward_hook(record("head"))
    out = RDrop(model, duplicate_from="top")(torch.randn(4, 6), torch.rand(4, 1))
    assert seen == {"bottom": 4, "head": 8}
    assert out.output.shape == (4, 3)


def test_hooks_are_gone_outside_training_calls() -> None:
    model = Tower()
    rd = RDrop(model, duplicate_from="top")
    rd(torch.randn(3, 6), torch.rand(3, 1))
    assert all(not m._forward_pre_hooks for m in model.modules())
    rd.eval()
    assert rd(torch.randn(3, 6), torch.rand(3, 1)).shape == (3, 3)


def test_bad_split_names_and_layouts() -> None:
    with pytest.raises(ValueError, match="duplicate_from must name a submodule.*'encoder'"):
        RDrop(Tower(), duplicate_from="encoder")
    with pytest.raises(ValueError, match="sequential"):
        RDrop(Tower(), duplicate_from="top", layout="sequential")

    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return nn.functional.dropout(self.used(x), 0.5)

    with pytest.raises(ValueError, match="'unused' did not run"):
        RDrop(Skips(), duplicate_from="unused")(torch.randn(3, 2))


def test_on_a_bert_encoder_from_config() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=3,
    )
    model = transformers.BertForSequenceClassification(config)
    ids = torch.randint(1, 40, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.long)
    mask[0, 5:] = 0
    labels = torch.tensor([0, 1, 2, 1])
    rd = RDrop(model, alpha=1.0, duplicate_from="bert.encoder.layer.2")
    out = rd(input_ids=ids, attention_mask=mask, labels=labels)
    assert out.output.logits.shape == (4, 3)
    assert out.consistency.item() > 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.classifier.weight.grad is not None
