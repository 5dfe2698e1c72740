"""Manifold MixUp mixes the hidden state at the drawn layer only, and TMix's options hold."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from regularizers.toy_models import NUM_CLASSES, LSTMClassifier, SmallCNN, tiny_bert, token_batch
from torch_rdrop.regularizers import ManifoldMixup, ManifoldMixupConfig


def record(modules: list[nn.Module]) -> tuple[list, list]:
    """Record each module's input (pre-hook) and output (hook) on every call."""
    inputs: list = [[] for _ in modules]
    outputs: list = [[] for _ in modules]
    for i, module in enumerate(modules):
        module.register_forward_pre_hook(lambda m, args, i=i: inputs[i].append(args[0].clone()))
        module.register_forward_hook(lambda m, args, out, i=i: outputs[i].append(out.clone()))
    return inputs, outputs


@pytest.mark.parametrize("k", [1, 2])
def test_cnn_mixes_after_block_k_and_nowhere_else(k: int) -> None:
    model = SmallCNN().eval()  # deterministic: compare with a clean pass
    blocks = [model.features[0], model.features[1], model.head]  # blocks, then what reads them
    inputs, outputs = record(blocks)
    x, y = torch.randn(6, 3, 8, 8), torch.arange(6) % NUM_CLASSES
    model(x)
    out = ManifoldMixup(ManifoldMixupConfig(layers=(k,))).training_loss(model, x, y)
    lam, perm = out.details["lam"], out.details["perm"]
    assert out.details["layer"] == k and out.details["module"] == f"features.{k - 1}"
    clean_in, clean_out = [i[0] for i in inputs], [o[0] for o in outputs]
    run_in, run_out = [i[1] for i in inputs], [o[1] for o in outputs]
    for j in range(k):  # before the mix: exactly the clean computation
        assert torch.equal(run_in[j], clean_in[j]) and torch.equal(run_out[j], clean_out[j])
    h = clean_out[k - 1]
    assert torch.allclose(run_in[k], lam * h + (1 - lam) * h[perm], atol=1e-6)
    for j in range(1, 3):  # every other block boundary passes its tensor through untouched
        if j != k:
            assert torch.equal(run_in[j], run_out[j - 1])


def test_layer_zero_mixes_the_images_themselves() -> None:
    model = SmallCNN().eval()
    inputs, _ = record([model.features[0]])
    x, y = torch.randn(6, 3, 8, 8), torch.arange(6) % NUM_CLASSES
    out = ManifoldMixup(ManifoldMixupConfig(layers=(0,))).training_loss(model, x, y)
    lam, perm = out.details["lam"], out.details["perm"]
    assert torch.allclose(inputs[0][0], lam * x + (1 - lam) * x[perm])


def test_bert_mixes_the_hidden_states_between_encoder_layers() -> None:
    model = tiny_bert(dropout=0.0)
    layers = list(model.bert.encoder.layer)
    seen_in: list = [[] for _ in layers]
    seen_out: list = [[] for _ in layers]
    for i, layer in enumerate(layers):
        layer.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: seen_in[i].append(
                args[0] if args else kwargs["hidden_states"]
            ),
            with_kwargs=True,
        )
        layer.register_forward_hook(lambda m, a, out, i=i: seen_out[i].append(out))
    batch = token_batch(pad_last=False)
    out = ManifoldMixup(ManifoldMixupConfig(layers=(2,))).training_loss(model, batch)
    lam, perm = out.details["lam"], out.details["perm"]
    assert out.details["module"] == "bert.encoder.layer.1"
    h = seen_out[1][0]
    assert torch.allclose(seen_in[2][0], lam * h + (1 - lam) * h[perm], atol=1e-6)
    assert torch.equal(seen_in[1][0], seen_out[0][0]) and torch.equal(seen_in[3][0], seen_out[2][0])


def test_lstm_layer_zero_mixes_the_embeddings_and_layer_one_the_lstm_states() -> None:
    model = LSTMClassifier(dropout=0.0)
    ids, y = token_batch(pad_last=False)["input_ids"], torch.arange(6) % NUM_CLASSES
    out = ManifoldMixup(ManifoldMixupConfig(layers=(0,))).training_loss(model, ids, y)
    assert out.details["module"] == "<embedding>"
    out = ManifoldMixup(ManifoldMixupConfig(layers=(1,))).training_loss(model, ids, y)
    assert out.details["module"] == "lstm"
    hidden, _ = model.lstm(model.embedding(ids))
    lam, perm = out.details["lam"], out.details["perm"]
    mixed = model.head((lam * hidden + (1 - lam) * hidden[perm]).mean(1))
    assert torch.allclose(out.output, mixed, atol=1e-6)


def test_the_layer_is_drawn_uniformly_from_the_eligible_set() -> None:
    model, x, y = SmallCNN(), torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    method = ManifoldMixup(ManifoldMixupConfig(layers=(0, 2)))
    drawn = [method.training_loss(model, x, y).details["layer"] for _ in range(60)]
    assert set(drawn) == {0, 2} and 15 < drawn.count(0) < 45
    default = ManifoldMixup()
    assert set(default.eligible(model)[1]) == {0, 1, 2}


def test_tmix_keeps_the_larger_weight_on_each_example() -> None:
    model, x, y = SmallCNN(), torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    method = ManifoldMixup(ManifoldMixupConfig.tmix(layers=(1, 2)))
    lams = [method.training_loss(model, x, y).details["lam"] for _ in range(30)]
    assert min(lams) >= 0.5 and max(lams) < 1
    with pytest.raises(ValueError, match=r"layers \[7, 9, 12\] are out of range.*4 blocks"):
        ManifoldMixup(ManifoldMixupConfig.tmix()).training_loss(tiny_bert(), token_batch())


def test_named_modules_define_the_blocks_and_unknown_names_are_refused() -> None:
    model, x, y = SmallCNN().eval(), torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    config = ManifoldMixupConfig(modules=("features.0.0", "features.1.0"), layers=(2,))
    out = ManifoldMixup(config).training_loss(model, x, y)
    assert out.details["module"] == "features.1.0"
    with pytest.raises(ValueError, match="modules names no module of SmallCNN: 'features.9'"):
        ManifoldMixup(ManifoldMixupConfig(modules=("features.9",))).training_loss(model, x, y)


def test_models_without_blocks_or_input_site_are_refused() -> None:
    class Bare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.randn(5, NUM_CLASSES))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.weight[ids].sum(1)

    with pytest.raises(ValueError, match="found no blocks"):
        ManifoldMixup().training_loss(
            Bare(), torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1])
        )


def test_a_packed_lstm_is_mixed_on_its_padded_states_and_keeps_each_length() -> None:
    from torch_rdrop.bench.tasks.models import BiLSTMClassifier

    torch.manual_seed(0)
    model = BiLSTMClassifier(vocab_size=30, num_classes=2, embed_dim=8, hidden=8, dropout=0.0)
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0], [9, 3, 4, 0], [5, 0, 0, 0]])
    y = torch.tensor([0, 1, 0, 1])
    method = ManifoldMixup(ManifoldMixupConfig(layers=(1,)))
    out = method.training_loss(model, {"input_ids": ids}, y)
    assert out.details["module"] == "lstm" and torch.isfinite(out.loss)
    lam, perm = out.details["lam"], out.details["perm"]
    states, mask = model.encode(ids, None)
    mixed = (lam * states + (1 - lam) * states[perm]) * mask.unsqueeze(-1)  # repacked: i's length
    keep = mask.unsqueeze(-1)
    mean = (mixed * keep).sum(1) / keep.sum(1)
    top = mixed.masked_fill(~keep, float("-inf")).amax(dim=1)
    expected = model.head(model.blocks(torch.cat([mean, top], dim=-1)))
    assert torch.allclose(out.output, expected, atol=1e-5)
