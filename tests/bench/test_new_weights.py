"""New weights of warm-started models: marked at load, trained at their own rate (new_lr), and
an input length bound per run (max_length)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.tiny_checkpoints import bert_checkpoint
from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks.checkpoint import CheckpointFamily
from torch_rdrop.bench.tasks.data.base import ClassificationData
from torch_rdrop.bench.tasks.models import minilm_classifier, minilm_encoder_decoder
from torch_rdrop.bench.tasks.new_weights import new_weight_names, param_groups
from torch_rdrop.bench.tasks.trial import run_trial


def test_the_encoder_decoder_marks_its_cross_attention_and_output_transform() -> None:
    names = new_weight_names(minilm_encoder_decoder(0.1))
    assert names is not None and len(names) == 6 * 10 + 5  # 10 per cross-attention block
    assert all(n.startswith("decoder.") for n in names)
    assert all(".crossattention." in n or ".cls.predictions." in n for n in names)
    assert "decoder.cls.predictions.transform.dense.weight" in names
    assert not any("embeddings" in n or ".attention.self." in n for n in names)  # pretrained


def test_a_classifier_marks_only_its_fresh_head() -> None:
    assert new_weight_names(minilm_classifier(3)) == {"classifier.weight", "classifier.bias"}


def test_a_local_checkpoint_marks_its_head_and_a_mean_pooled_head(tmp_path: Path) -> None:
    words = ["good", "bad", "film"]
    folder = bert_checkpoint(tmp_path / "bert", words)
    texts = ("good film", "bad film", "good", "bad")
    data = ClassificationData("r", texts, [1, 0, 1, 0], ("neg", "pos"), range(4), [], None, "en")
    _, model = CheckpointFamily(folder)(data, 0.1)
    assert new_weight_names(model) == {"classifier.weight", "classifier.bias"}
    _, pooled = CheckpointFamily(folder, pooling="mean")(data, 0.1)
    assert new_weight_names(pooled) == {"score.weight", "score.bias"}


def test_param_groups_need_marked_weights_for_new_lr() -> None:
    net = torch.nn.Linear(2, 2)
    assert [g["lr"] for g in param_groups(net, 0.1, None)] == [0.1]
    with pytest.raises(ValueError, match=r"new_lr=0.01: Linear marks no new weights"):
        param_groups(net, 0.1, 0.01)


def _weights_after(spec: TrialSpec) -> tuple[dict[str, torch.Tensor], frozenset[str]]:
    kept: dict[str, torch.Tensor] = {}

    def keep(model, encoder, split) -> None:
        kept.update({k: v.detach().clone() for k, v in model.named_parameters()})
        kept["_new"] = new_weight_names(model)  # type: ignore[assignment]

    run_trial(spec, on_trained=keep)
    return kept, kept.pop("_new")  # type: ignore[return-value]


def test_new_lr_trains_the_new_weights_at_their_own_rate() -> None:
    before = dict(minilm_classifier(2).named_parameters())
    params = {"epochs": 1, "batch_size": 4, "lr": 1e-12, "dropout": 0.1, "recipe": "family"}
    slow, new = _weights_after(TrialSpec("mr-minilm", "none", 2, 0, 0, params))
    fast, _ = _weights_after(TrialSpec("mr-minilm", "none", 2, 0, 0, {**params, "new_lr": 1e-2}))
    embedding = "bert.embeddings.word_embeddings.weight"

    def moved(weights, name):
        return float((weights[name] - before[name]).abs().max())

    assert moved(fast, embedding) < 1e-9 and moved(slow, embedding) < 1e-9  # lr 1e-12 alike
    assert moved(fast, "classifier.weight") > 1e-4 > 1e-9 > moved(slow, "classifier.weight")
    assert new == {"classifier.weight", "classifier.bias"}


def test_new_lr_on_a_model_without_new_weights_is_refused() -> None:
    spec = TrialSpec("digits-mlp", "none", 4, 0, 0, {"epochs": 1, "new_lr": 1e-3})
    with pytest.raises(ValueError, match="new_lr=0.001: MLP marks no new weights.*digits-mlp"):
        run_trial(spec)
    with pytest.raises(ValueError, match="param new_lr must be > 0, got -1"):
        run_trial(TrialSpec("digits-mlp", "none", 4, 0, 0, {"new_lr": -1}))


def test_max_length_bounds_the_inputs_of_a_run() -> None:
    seen: dict[str, int] = {}

    def keep(model, encoder, split) -> None:
        batch = encoder.batch(data, split.train[:8])
        seen["bound"], seen["width"] = encoder.max_len, batch["input_ids"].shape[1]

    from torch_rdrop.bench.tasks.catalog import get_task

    data = get_task("mr-minilm").load()
    params = {"epochs": 1, "batch_size": 8, "max_length": 6}
    run_trial(TrialSpec("mr-minilm", "none", 2, 0, 0, params), on_trained=keep)
    assert seen == {"bound": 6, "width": 6}
    with pytest.raises(ValueError, match="param max_length must be a positive integer, got 0"):
        run_trial(TrialSpec("mr-minilm", "none", 2, 0, 0, {"max_length": 0}))
