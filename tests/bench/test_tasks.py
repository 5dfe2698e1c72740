"""The task list: definitions, lookup errors, the table rows, and one real batch per task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.data_sources import load_or_skip
from optional import missing
from torch_rdrop.bench.tasks import KINDS, METRICS, TASKS, get_task, task_names, task_rows
from torch_rdrop.bench.tasks.backbone import BACKBONES, family_name
from torch_rdrop.bench.tasks.fewshot import few_shot
from torch_rdrop.bench.tasks.pooling import POOLINGS
from torch_rdrop.wrapper import default_logits


def test_the_task_list_covers_the_paper_families() -> None:
    families = {t.family for t in TASKS.values()}
    assert {"summarisation", "language modelling", "image classification"} <= families
    assert {"sequence labelling", "NLU (text classification)"} <= families
    assert {t.language for t in TASKS.values()} == {"en", "zh", "-"}
    assert {t.kind for t in TASKS.values()} == set(KINDS)
    minilm = [t for t in TASKS.values() if "MiniLM" in t.model_name]
    assert {t.name for t in minilm} >= {"bbc-minilm", "mr-minilm", "tweets-minilm"}
    assert all(t.language == "en" for t in minilm)  # MiniLM's vocabulary is English
    assert all(t.metric in METRICS for t in TASKS.values())


def test_unknown_task_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown task 'nope'; known tasks: bbc-cnn, .*digits-mlp"):
        get_task("nope")
    assert get_task("pd-lm-gpt2").higher_is_better is False
    assert task_names()[0] == "bbc-cnn"


def test_rows_show_size_classes_and_licences() -> None:
    rows = {row["name"]: row for row in task_rows()}
    assert set(rows) == set(TASKS)
    for row in rows.values():
        assert row["licence"] and row["source"] and row["family"]
    assert "personal use" in rows["mr-cnn"]["licence"]
    assert "personal use" in rows["wsj-pos-lstm"]["licence"]
    unloaded = task_rows(("mr-cnn",), load=False)[0]
    assert unloaded["size"] == "-" and unloaded["licence"] == rows["mr-cnn"]["licence"]
    for name in ("bbc-cnn", "pd-ner-lstm"):
        if rows[name]["size"].startswith("not installed"):
            missing(f"{name}: {rows[name]['size']}")
    assert rows["bbc-cnn"]["size"] == "2,127 (1,701 train / 426 test)"
    assert rows["bbc-cnn"]["classes"] == "5"
    assert rows["pd-ner-lstm"]["classes"] == "7 tags (PER, LOC, ORG)"


def _untrained_backbone(name: str) -> None:
    """An untrained stand-in for backbone ``name`` in its folder (the real one takes minutes to
    pretrain): the language-model task's model and vocabulary, as the build writes them."""
    from torch_rdrop.bench.tasks.backbone import backbone_dir, get_backbone
    from torch_rdrop.bench.tasks.backbone_build import write_backbone

    lm = get_task(get_backbone(name).lm_task)
    data = load_or_skip(lm.load)
    encoder = lm.make_encoder(data)
    write_backbone(lm.make_model(data, encoder, 0.1), encoder, backbone_dir(name), {})


# every family that fine-tunes a backbone (one per head), with the backbone it reads
BACKBONE_OF_FAMILY = {family_name(b, p): b for b in BACKBONES for p in POOLINGS}


@pytest.mark.parametrize("name", list(TASKS))
def test_each_task_trains_one_step_on_real_data(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = get_task(name)
    if task.model_family.name in BACKBONE_OF_FAMILY:
        monkeypatch.setenv("TORCH_RDROP_CACHE", str(tmp_path))
        _untrained_backbone(BACKBONE_OF_FAMILY[task.model_family.name])
    data = load_or_skip(task.load)
    shots = 4 if task.kind != "generation" else 8
    split = few_shot(data, shots, seed=0, rare=task.rare)
    encoder = load_or_skip(lambda: task.make_encoder(data))
    model = load_or_skip(lambda: task.make_model(data, encoder, dropout=0.2)).train()
    batch = encoder.batch(data, split.train[:6])
    labels = batch.pop("labels")
    logits = default_logits(model(**batch))
    assert logits.shape[:-1] == labels.shape
    loss = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100)
    assert torch.isfinite(loss)
    loss.backward()
    again = default_logits(model(**batch))
    assert not torch.allclose(logits, again)  # the task's dropout is active in training


def test_entity_f1_on_real_ner_rows() -> None:
    from torch_rdrop.bench.tasks.data.chinese_text import load_peoples_daily_ner
    from torch_rdrop.bench.tasks.metrics import bio_spans, entity_f1

    data = load_or_skip(load_peoples_daily_ner)
    gold = [data.tags[i] for i in data.test[:300]]
    assert entity_f1(gold, gold, data.tag_names) == 1.0
    assert entity_f1([row * 0 for row in gold], gold, data.tag_names) == 0.0
    starts = sum(int((row % 2 == 1).sum()) for row in gold)  # B- tags have odd ids
    spans = sum(len(bio_spans([data.tag_names[t] for t in row])) for row in gold)
    assert spans == starts > 0


def test_macro_f1_and_accuracy_by_hand() -> None:
    from torch_rdrop.bench.tasks.metrics import accuracy, macro_f1, perplexity

    pred, gold = [0, 1, 2, 2, 1], [0, 1, 1, 2, 2]
    # class 0: f1 1; class 1: tp 1, 2 predicted, 2 gold -> 0.5; class 2: same -> 0.5
    assert macro_f1(pred, gold, 3) == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert accuracy(pred, gold) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="no scored position"):
        accuracy([1], [-100])
    with pytest.raises(ValueError, match="tokens must be positive"):
        perplexity(1.0, 0)
