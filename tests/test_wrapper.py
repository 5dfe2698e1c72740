"""RDrop(model) on several model shapes and all layouts, checked against hand computations.

Dropout is made deterministic by re-seeding the global RNG before the wrapper's call and before
the hand computation, so both draw the same masks.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torch_rdrop import LinearWarmup, NoDropoutWarning, RDrop, symmetric_kl
from torch_rdrop.functional import consistency

LAYOUTS = ["concat", "interleave", "sequential"]


def mlp(dropout: float = 0.3) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 4))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Dropout2d(0.2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(4 * 8 * 8, 10),
    )


class LSTMTagger(nn.Module):
    """Token ids [B, T] -> tag logits [B, T, C]; embedding dropout and output dropout."""

    def __init__(self, vocab: int = 20, tags: int = 5) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 12, padding_idx=0)
        self.lstm = nn.LSTM(12, 16, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(32, tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.drop(self.embed(tokens)))
        return self.head(self.drop(hidden))


@dataclasses.dataclass
class Batch:
    features: torch.Tensor
    scale: torch.Tensor  # no batch dimension: must not be duplicated


class DictModel(nn.Module):
    """Takes a dict holding a dataclass and a shared table; returns a dict of several outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, batch: dict, table: torch.Tensor) -> dict:
        assert table.shape == (3, 3), "a tensor without the batch dim was duplicated"
        assert batch["inner"].scale.dim() == 0
        logits = self.body(batch["inner"].features) * batch["inner"].scale
        return {"logits": logits, "aux": [logits.sum(-1)], "table": table}


def stacked_reference(model, x, passes, layout):
    """The passes computed by hand for a tensor input."""
    if layout == "sequential":
        return [model(x) for _ in range(passes)]
    if layout == "concat":
        return list(model(torch.cat([x] * passes)).chunk(passes))
    out = model(x.repeat_interleave(passes, 0))
    return [out[i::passes] for i in range(passes)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("passes", [2, 3])
@pytest.mark.parametrize(
    ("factory", "input_shape", "num_classes"),
    [(mlp, (8, 6), 4), (cnn, (5, 1, 8, 8), 10)],
)
def test_loss_matches_hand_computation(layout, passes, factory, input_shape, num_classes) -> None:
    model = factory()
    x = torch.randn(input_shape)
    target = torch.randint(0, num_classes, (input_shape[0],))
    rd = RDrop(model, alpha=0.8, layout=layout, passes=passes)
    torch.manual_seed(123)
    out = rd(x, target=target)
    torch.manual_seed(123)
    passes_by_hand = stacked_reference(model, x, passes, layout)
    task = torch.stack([F.cross_entropy(o, target) for o in passes_by_hand]).mean()
    term = consistency(passes_by_hand)
    torch.testing.assert_close(out.task_loss, task)
    torch.testing.assert_close(out.consistency, term)
    torch.testing.assert_close(out.loss, task + 0.8 * term)
    torch.testing.assert_close(out.output, passes_by_hand[0])
    assert len(out.logits) == passes and out.consistency.item() > 0
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lstm_tagger_with_padding(layout) -> None:
    model = LSTMTagger()
    tokens = torch.randint(1, 20, (3, 7))
    tokens[0, 5:] = 0
    tokens[2, 3:] = 0
    target = torch.randint(0, 5, (3, 7)).masked_fill(tokens == 0, -100)
    rd = RDrop(model, alpha=1.0, layout=layout)
    torch.manual_seed(7)
    out = rd(tokens, target=target)
    torch.manual_seed(7)
    first, second = stacked_reference(model, tokens, 2, layout)
    keep = target != -100
    torch.testing.assert_close(out.consistency, symmetric_kl(first, second, mask=keep))
    expected_task = 0.5 * (
        F.cross_entropy(first[keep], target[keep]) + F.cross_entropy(second[keep], target[keep])
    )
    torch.testing.assert_close(out.task_loss, expected_task)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nested_dict_and_dataclass_inputs_and_outputs(layout) -> None:
    model = DictModel()
    table = torch.randn(3, 3)
    batch = {"inner": Batch(features=torch.randn(5, 6), scale=torch.tensor(2.0))}
    target = torch.randint(0, 4, (5,))
    rd = RDrop(model, alpha=0.5, layout=layout)
    torch.manual_seed(3)
    out = rd(batch, table, target=target)
    assert set(out.output) == {"logits", "aux", "table"}
    assert out.output["logits"].shape == (5, 4)
    assert out.output["aux"][0].shape == (5,)
    assert out.output["table"] is table
    torch.manual_seed(3)
    expected = stacked_reference(lambda x: model.body(x) * 2.0, batch["inner"].features, 2, layout)
    torch.testing.assert_close(out.consistency, symmetric_kl(*expected))


def test_concat_rows_are_the_first_pass() -> None:
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return F.dropout(x, 0.5, training=True)

    x = torch.arange(6.0).view(3, 2)
    RDrop(Spy(), layout="concat")(x)
    torch.testing.assert_close(seen[0], torch.cat([x, x]))
    RDrop(Spy(), layout="interleave")(x)
    torch.testing.assert_close(seen[1], x.repeat_interleave(2, 0))


def test_eval_mode_is_the_bare_model_with_one_pass() -> None:
    calls = []
    model = mlp()
    model.register_forward_hook(lambda *_: calls.append(1))
    rd = RDrop(model).eval()
    x = torch.randn(4, 6)
    torch.testing.assert_close(rd(x), model(x))
    assert len(calls) == 2
    assert isinstance(rd(x), torch.Tensor)


def test_warns_once_when_dropout_is_inactive() -> None:
    rd = RDrop(mlp(dropout=0.0))
    x, y = torch.randn(4, 6), torch.randint(0, 4, (4,))
    with pytest.warns(NoDropoutWarning, match="identical outputs.*eval mode.*disable_dropout"):
        out = rd(x, target=y)
    assert out.consistency.item() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rd(x, target=y)


def test_warns_when_the_inner_model_was_put_in_eval_mode() -> None:
    rd = RDrop(mlp(), layout="sequential")
    rd.train()
    rd.model.eval()
    with pytest.warns(NoDropoutWarning):
        rd(torch.randn(4, 6), target=torch.randint(0, 4, (4,)))


def test_no_warning_with_active_dropout() -> None:
    rd = RDrop(mlp())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = rd(torch.randn(4, 6), target=torch.randint(0, 4, (4,)))
    assert not [w for w in caught if issubclass(w.category, NoDropoutWarning)]
    assert out.consistency.item() > 0


def test_alpha_schedule_follows_the_step() -> None:
    rd = RDrop(mlp(), alpha=LinearWarmup(alpha=2.0, warmup_steps=4))
    x, y = torch.randn(4, 6), torch.randint(0, 4, (4,))
    alphas = [rd(x, target=y).alpha for _ in range(3)]
    assert alphas == [0.0, 0.5, 1.0]
    rd.set_step(10)
    out = rd(x, target=y)
    assert out.alpha == 2.0
    torch.testing.assert_close(out.loss, out.task_loss + 2.0 * out.consistency)


def test_detach_gives_no_gradient_through_the_first_pass_consistency() -> None:
    rd = RDrop(mlp(), alpha=1.0, detach=True, layout="sequential")
    out = rd(torch.randn(4, 6))
    grad = torch.autograd.grad(out.consistency, out.logits, allow_unused=True)
    assert grad[0] is None and grad[1].abs().sum() > 0


def test_custom_loss_fn_logits_fn_and_mse_divergence() -> None:
    class Regressor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.2), nn.Linear(16, 1))

        def forward(self, x):
            return (self.net(x).squeeze(-1), "extra")

    rd = RDrop(
        Regressor(),
        alpha=0.3,
        loss_fn=F.mse_loss,
        logits_fn=lambda out: out[0],
        divergence="mse",
    )
    x, y = torch.randn(6, 3), torch.randn(6)
    torch.manual_seed(1)
    out = rd(x, target=y)
    first, second = out.logits
    torch.testing.assert_close(
        out.loss,
        0.5 * (F.mse_loss(first, y) + F.mse_loss(second, y)) + 0.3 * ((first - second) ** 2).mean(),
    )
    assert out.output[1] == "extra"


def test_semi_supervised_batch_through_the_wrapper() -> None:
    rd = RDrop(mlp(), alpha=1.0)
    y = torch.tensor([1, -100, -100, 2])
    out = rd(torch.randn(4, 6), target=y)
    first, second = out.logits
    torch.testing.assert_close(out.consistency, symmetric_kl(first, second))
    torch.testing.assert_close(
        out.task_loss,
        0.5 * (F.cross_entropy(first, y) + F.cross_entropy(second, y)),
    )


def test_attribute_access_reaches_the_wrapped_model() -> None:
    model = mlp()
    model.config_name = "tiny"
    rd = RDrop(model)
    assert rd.config_name == "tiny"
    assert rd.model is model
    with pytest.raises(AttributeError):
        _ = rd.does_not_exist
