"""Backbones made here: the character tokenizer, a tiny pretraining, its checkpoint folder as a
classifier, the missing-folder error and the ``rdrop backbone`` commands."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from torch_rdrop.bench.engine.spec import TrialSpec
from torch_rdrop.bench.tasks import (
    DATASETS,
    FAMILIES,
    TASKS,
    Dataset,
    ModelFamily,
    check_data,
    get_task,
    register_dataset,
    register_family,
    register_task,
)
from torch_rdrop.bench.tasks.backbone import (
    BACKBONES,
    PD_CHARLM_COST,
    Backbone,
    BackboneMissingError,
    PretrainRecipe,
    backbone_dir,
    backbone_rows,
    backbone_tasks,
    built_folder,
    read_provenance,
    register_backbone,
)
from torch_rdrop.bench.tasks.backbone_build import (
    Pretrained,
    build_backbone,
    pretrain,
    write_backbone,
)
from torch_rdrop.bench.tasks.char_tokenizer import char_tokenizer
from torch_rdrop.bench.tasks.checkpoint import CheckpointError, CheckpointFamily, check_checkpoint
from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData
from torch_rdrop.bench.tasks.evaluation import evaluate
from torch_rdrop.bench.tasks.pooling import MeanPooledClassifier
from torch_rdrop.bench.tasks.provenance import weights_fingerprint
from torch_rdrop.bench.tasks.snapshot import load_snapshot
from torch_rdrop.bench.tasks.text import CharLMEncoder, Vocab, char_tokens
from torch_rdrop.bench.tasks.trial import run_trial
from torch_rdrop.cli import app
from torch_rdrop.wrapper import default_logits

# A repetitive corpus: four sentences, each many times, so a few steps learn it.
SENTENCES = ("我爱北京天安门。", "今天天气很好！", "这本书很好看。", "北京今天下雨了。")
LINES = tuple(SENTENCES[i % 4] for i in range(96))
GOOD = ("很好", "好看", "很好看", "天气很好")
BAD = ("下雨", "不好", "很不好", "不好看")
LM_TASK = "toy-zh-lines-toy-gpt2"
TINY = PretrainRecipe(epochs=3, lr=1e-2, batch_size=16, dropout=0.1, seed=0, threads=1, dev_lines=8)


@cache
def _lines() -> GenerationData:
    return GenerationData("toy-zh-lines", LINES, None, np.arange(80), np.arange(80, 96),
                          source=None, language="zh")  # fmt: skip


@cache
def _reviews() -> ClassificationData:
    texts = tuple(f"{w}{x}" for w in GOOD + BAD for x in ("", "！", "。"))
    labels = np.array([int(t.rstrip("！。") in GOOD) for t in texts])
    return ClassificationData("toy-zh-reviews", texts, labels, ("neg", "pos"), np.arange(0, 24, 2),
                              np.arange(1, 24, 2), source=None, language="zh")  # fmt: skip


def _char_lm(data: GenerationData) -> CharLMEncoder:
    return CharLMEncoder.fit(data, max_len=32, min_freq=1)


def _tiny_gpt2(data: GenerationData, encoder: CharLMEncoder, p: float) -> torch.nn.Module:
    from torch_rdrop.bench.tasks.models import tiny_gpt2

    return tiny_gpt2(len(encoder.vocab), dropout=p, max_len=encoder.max_len, width=16, layers=1)


TOY = Backbone("toy-charlm", "tiny character GPT-2 (test)", LM_TASK, ("toy-zh-reviews",), ("zh",),
               TINY, cost="a few seconds", epochs=2, batch_size=4, lr=1e-3)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _registered() -> Iterator[None]:
    register_dataset(Dataset("toy-zh-lines", _lines, "generation", "zh", "perplexity"))
    register_dataset(Dataset("toy-zh-reviews", _reviews, "classification", "zh", "accuracy"))
    register_family(ModelFamily("toy-gpt2", "1-layer GPT-2, width 16", ("generation",),
                                encoder=_char_lm, model=_tiny_gpt2))  # fmt: skip
    register_task("toy-zh-lines", "toy-gpt2")
    register_backbone(TOY)
    yield
    for registry, name in [(TASKS, "toy-zh-reviews-toy-charlm"), (TASKS, LM_TASK),
                           (TASKS, "toy-zh-reviews-toy-charlm-mean"),
                           (BACKBONES, "toy-charlm"), (FAMILIES, "toy-charlm"),
                           (FAMILIES, "toy-charlm-mean"),
                           (FAMILIES, "toy-gpt2"), (DATASETS, "toy-zh-reviews"),
                           (DATASETS, "toy-zh-lines")]:  # fmt: skip
        registry.remove(name)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_RDROP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@dataclass
class Built:
    pretrained: Pretrained
    folder: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    done = pretrain(LM_TASK, TINY)
    folder = tmp_path_factory.mktemp("toy") / "toy-charlm"
    write_backbone(done.model, done.encoder, folder, {"test": True})
    return Built(done, folder)


# -- the tokenizer ------------------------------------------------------------------------------


def _encoder_ids(encoder: CharLMEncoder, texts: list[str]) -> list[list[int]]:
    """The input ids CharLMEncoder gives each text (padding removed)."""
    data = GenerationData("t", tuple(texts), None, np.arange(len(texts)), [], None, "zh")
    batch = encoder.batch(data, np.arange(len(texts)))
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    return [ids[i][mask[i]].tolist() for i in range(len(texts))]


def test_tokenizer_ids_are_the_char_lm_encoder_ids(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    encoder = _char_lm(_lines())
    texts = [
        "今天 天气\t很好！",  # spaces and a tab: dropped
        "我爱\u3000北京 X 天安门。",  # an ideographic space; X is outside the vocabulary
        "<pad>今天<unk>",  # special tokens spelled in the text are characters, as the encoder reads
        "北京\x1c下雨了\u00a0😀",  # Python's isspace U+001C, no-break space, an emoji (unknown)
        "",
    ]
    expected = _encoder_ids(encoder, texts)
    assert expected[1][:3] == [2, encoder.vocab.id("我"), encoder.vocab.id("爱")]
    assert 1 in expected[1] and 1 in expected[3]  # unknown characters are there to check
    tokenizer = char_tokenizer(encoder.vocab, encoder.max_len)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    for tok in (tokenizer, loaded):
        assert tok(texts)["input_ids"] == expected
        padded = tok(texts, padding=True, return_tensors="pt")
        assert padded["input_ids"][1, len(expected[1]) :].eq(0).all()
        assert padded["attention_mask"].sum(1).tolist() == [len(e) for e in expected]
    assert loaded.pad_token_id == 0 and loaded.unk_token_id == 1 and loaded.bos_token_id == 2


def test_tokenizer_agrees_on_every_character_of_the_basic_plane() -> None:
    """Every character U+0000..U+FFFF (surrogates aside) and every Python whitespace: the same
    ids as char_tokens + Vocab.encode, whether in the vocabulary or not."""
    every = "".join(chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF)
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    every += "".join(spaces)
    seen = [c for c in every if not c.isspace()][::7]  # a vocabulary of every 7th character
    vocab = Vocab(("<pad>", "<unk>", "<bos>", "<eos>", *seen))
    tokenizer = char_tokenizer(vocab, max_length=8)
    ids = tokenizer(every, truncation=False, verbose=False)["input_ids"]
    assert ids == [2, *vocab.encode(char_tokens(every))]


def test_tokenizer_cuts_at_max_length_keeping_bos() -> None:
    vocab = Vocab(("<pad>", "<unk>", "<bos>", "<eos>", "好"))
    tokenizer = char_tokenizer(vocab, max_length=4)
    assert tokenizer("好好好好好好", truncation=True)["input_ids"] == [2, 4, 4, 4]


def test_tokenizer_refuses_a_vocabulary_it_cannot_reproduce() -> None:
    with pytest.raises(ValueError, match=r"vocab must start with \('<pad>', '<unk>', '<bos>'"):
        char_tokenizer(Vocab(("<pad>", "<unk>", "好")))
    with pytest.raises(ValueError, match="single non-space characters after the specials, got"):
        char_tokenizer(Vocab(("<pad>", "<unk>", "<bos>", "<eos>", "好看")))
    with pytest.raises(TypeError, match="vocab must be a Vocab, got tuple"):
        char_tokenizer(("<pad>",))  # type: ignore[arg-type]


# -- pretraining and the folder -----------------------------------------------------------------


def test_pretraining_learns_the_corpus(built: Built) -> None:
    result = built.pretrained.result
    dev = list(result.curves["dev_perplexity"])
    vocab = len(built.pretrained.encoder.vocab)
    assert len(dev) == TINY.epochs and result.metrics["best_epoch"] >= 1
    # untrained: about the vocabulary size (uniform); trained on four repeated sentences: near 1
    assert built.pretrained.dev_perplexity_untrained > vocab / 2
    assert min(dev) < built.pretrained.dev_perplexity_untrained / 4
    assert result.metrics["perplexity"] < built.pretrained.dev_perplexity_untrained / 4
    lines = built.pretrained.lines
    assert (lines["train"], lines["dev"], lines["test"]) == (72, 8, 16)
    assert 72 * 7 <= lines["train_characters"] <= 72 * 8


def test_folder_loads_as_a_warm_started_classifier(built: Built) -> None:
    from transformers import GPT2ForSequenceClassification

    assert check_checkpoint(built.folder) == built.folder
    model = CheckpointFamily(built.folder).model(_reviews(), dropout=0.3)
    assert isinstance(model, GPT2ForSequenceClassification)
    assert model.config.resid_pdrop == 0.3 and model.config.num_labels == 2
    pretrained = built.pretrained.model.transformer.state_dict()
    loaded = model.transformer.state_dict()
    assert loaded.keys() == pretrained.keys()
    for name, tensor in pretrained.items():
        assert torch.equal(loaded[name], tensor), name


def test_mean_head_warm_starts_the_body_and_reads_every_character(built: Built) -> None:
    model = CheckpointFamily(built.folder, pooling="mean").model(_reviews(), dropout=0.3)
    assert isinstance(model, MeanPooledClassifier) and model.score.out_features == 2
    assert model.body.config.resid_pdrop == 0.3 and model.dropout.p == 0.3
    pretrained = built.pretrained.model.transformer.state_dict()
    loaded = model.body.state_dict()
    assert loaded.keys() == pretrained.keys()
    for name, tensor in pretrained.items():
        assert torch.equal(loaded[name], tensor), name
    model.eval()
    ids = torch.tensor([[2, 5, 6, 7]])
    with torch.no_grad():
        states = model.body(input_ids=ids).last_hidden_state
        expected = model.score(states.mean(dim=1))
        torch.testing.assert_close(model(input_ids=ids), expected, rtol=0, atol=1e-6)
        last = model.score(states[:, -1])
        assert not torch.allclose(expected, last, atol=1e-3)  # it is not the last state's head
    with pytest.raises(CheckpointError, match="pooling='mean' is a classification head"):
        CheckpointFamily(built.folder, pooling="mean").model(_lines(), dropout=0.1)
    with pytest.raises(ValueError, match=r"pooling must be one of \('head', 'mean'\), got 'max'"):
        CheckpointFamily(built.folder, pooling="max")


@pytest.mark.parametrize("pooling", ["head", "mean"])
def test_padded_batch_scores_each_row_as_alone(built: Built, pooling: str) -> None:
    family = CheckpointFamily(built.folder, pooling=pooling)
    data = _reviews()
    encoder = family.encoder(data)
    model = family.model(data, dropout=0.1).eval()
    rows = [0, 4, 9, 13]  # 2 to 5 characters: three rows are padded
    batch = encoder.batch(data, rows)
    assert batch["input_ids"][:, 0].eq(2).all() and batch["attention_mask"].eq(0).any()
    batch.pop("labels")
    with torch.no_grad():
        together = default_logits(model(**batch))
        for i, row in enumerate(rows):
            alone = encoder.batch(data, [row])
            alone.pop("labels")
            single = default_logits(model(**alone))[0]
            torch.testing.assert_close(together[i], single, rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", ["toy-zh-reviews-toy-charlm", "toy-zh-reviews-toy-charlm-mean"])
def test_the_family_fine_tunes_in_a_trial(built: Built, cache_dir: Path, task: str) -> None:
    import shutil

    shutil.copytree(built.folder, backbone_dir("toy-charlm"))
    assert task in backbone_tasks(TOY)
    spec = TrialSpec(task, "rdrop", 2, 0, 0, {"epochs": 2})
    result = run_trial(spec)
    assert 0.0 <= result.value <= 1.0 and len(result.curves["accuracy"]) == 2
    assert result.versions["weights"] == weights_fingerprint(built.folder)  # the built weights


def test_run_trial_hands_back_the_scored_model() -> None:
    kept = {}
    spec = TrialSpec(LM_TASK, "none", None, 0, 0, {**TINY.params(), "epochs": 2})
    result = run_trial(
        spec, on_trained=lambda model, encoder, split: kept.update(m=model, e=encoder, s=split)
    )
    task = get_task(LM_TASK)
    data = task.load()
    test = evaluate(task, kept["m"], kept["e"], data, data.test)
    assert test == pytest.approx(result.metrics["perplexity"], rel=1e-6)
    dev = evaluate(task, kept["m"], kept["e"], data, kept["s"].dev)  # the trial's own dev lines
    assert dev == pytest.approx(min(result.curves["dev_perplexity"]), rel=1e-6)
    with pytest.raises(
        ValueError, match="on_trained: task digits-pixel-logreg is fitted, not trained"
    ):
        run_trial(
            TrialSpec("digits-pixel-logreg", "none", 4, 0, 0), on_trained=lambda *trained: None
        )


def test_write_never_replaces_a_folder_that_is_not_a_backbone(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch_rdrop.bench.tasks import backbone_build

    done = built.pretrained
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a backbone folder"):
        write_backbone(done.model, done.encoder, tmp_path, {})
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    again = write_backbone(done.model, done.encoder, tmp_path / "b", {"n": 1})
    assert write_backbone(done.model, done.encoder, again, {"n": 2}) == again
    assert read_provenance(again) == {"n": 2} and not (tmp_path / ".b.partial").exists()
    monkeypatch.setattr(backbone_build, "pretrain", lambda *args: pytest.fail("trained first"))
    with pytest.raises(ValueError, match="exists and is not a backbone folder"):
        build_backbone("toy-charlm", out=tmp_path)  # refused before any training


def test_pretrain_needs_a_language_model_task() -> None:
    with pytest.raises(ValueError, match=r"lm_task must be a language-model task .* got "
                       r"digits-mlp \(classification, accuracy\)"):  # fmt: skip
        pretrain("digits-mlp", TINY)


def test_build_writes_provenance(cache_dir: Path) -> None:
    folder = build_backbone("toy-charlm", PretrainRecipe(epochs=1, batch_size=32, dev_lines=8))
    assert folder == backbone_dir("toy-charlm") and built_folder("toy-charlm") == folder
    record = read_provenance(folder)
    assert record is not None and record["backbone"] == "toy-charlm"
    assert record["pretrained_on"]["dataset"] == "toy-zh-lines"
    assert record["recipe"]["epochs"] == 1 and len(record["dev_perplexity"]) == 1
    assert record["test_perplexity"] > 1 and record["model"]["layers"] == 1
    assert set(record["versions"]) == {"torch_rdrop", "torch", "transformers"}
    assert not any(p.name.endswith(".partial") for p in folder.parent.iterdir())
    json.dumps(record)


def test_a_stopped_build_resumes_from_its_snapshot(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    from torch_rdrop.bench.tasks import backbone_build, loop_state

    resumed_at: list[int] = []
    monkeypatch.setattr(backbone_build, "SNAPSHOT_SECONDS", 0.0)  # a write after every step

    def load(path, run):
        state = load_snapshot(path, run)
        resumed_at.append(-1 if state is None else state["epoch"])
        return state

    monkeypatch.setattr(loop_state, "load_snapshot", load)

    recipe = PretrainRecipe(epochs=3, batch_size=32, dev_lines=8)
    whole = build_backbone("toy-charlm", recipe, out=tmp_path / "whole")

    def stop_after_first(epoch: int, value: float, values) -> None:
        if epoch == 0:
            raise KeyboardInterrupt

    snapshot = tmp_path / "build.pt"
    with pytest.raises(KeyboardInterrupt):
        build_backbone("toy-charlm", recipe, tmp_path / "again", stop_after_first, snapshot)
    assert snapshot.exists()
    again = build_backbone("toy-charlm", recipe, tmp_path / "again", snapshot=snapshot)
    assert not snapshot.exists()  # removed once the backbone is trained
    assert resumed_at == [-1, 1]  # the stopped build started afresh; the next went on from it
    first, second = (load_file(str(f / "model.safetensors")) for f in (whole, again))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert read_provenance(again)["dev_perplexity"] == read_provenance(whole)["dev_perplexity"]


# -- unbuilt backbones and the commands ----------------------------------------------------------


def test_unbuilt_backbone_names_the_build_command(cache_dir: Path) -> None:
    task = get_task("reviews-zh-pd-charlm")
    assert task.model_family.name == "pd-charlm" and "reviews-zh-pd-charlm" in TASKS
    with pytest.raises(BackboneMissingError, match=r"`rdrop backbone build pd-charlm` \("
                       + re.escape(PD_CHARLM_COST)):  # fmt: skip
        task.make_encoder(None)
    with pytest.raises(ValueError, match="task reviews-zh-pd-charlm: backbone pd-charlm is not "
                       "built: no checkpoint in .*rdrop backbone build pd-charlm"):  # fmt: skip
        check_data("reviews-zh-pd-charlm")
    (backbone_dir("pd-charlm")).mkdir(parents=True)
    with pytest.raises(BackboneMissingError, match="an incomplete checkpoint in .*missing config"):
        built_folder("pd-charlm")


def test_backbone_commands(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_rdrop.cli import common

    monkeypatch.setattr(common.console, "width", 400)  # a table row on one line
    runner = CliRunner()
    listed = runner.invoke(app, ["backbone", "list"])
    assert listed.exit_code == 0, listed.output
    assert "no: rdrop backbone build pd-charlm" in listed.output
    assert "no: rdrop backbone build toy-charlm" in listed.output
    tasks = runner.invoke(app, ["tasks", "--no-load"])
    assert tasks.exit_code == 0 and "reviews-zh-pd-charlm" in tasks.output
    built = runner.invoke(app, ["backbone", "build", "toy-charlm", "--epochs", "2", "--lr", "0.01",
                                "--batch-size", "16", "--dev-lines", "8"])  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "epoch 1/2: dev perplexity" in built.output and "epoch 2/2" in built.output
    weights = weights_fingerprint(backbone_dir("toy-charlm"))
    assert "test perplexity" in built.output
    assert f"wrote {backbone_dir('toy-charlm')} (weights {weights})" in built.output
    rows = {row["name"]: row for row in backbone_rows()}
    assert rows["toy-charlm"]["built"] == "yes" and rows["toy-charlm"]["test perplexity"] != "-"
    assert rows["toy-charlm"]["weights"] == weights  # the fingerprint its runs store
    assert rows["pd-charlm"]["built"].startswith("no") and rows["pd-charlm"]["weights"] == "-"
    listed = runner.invoke(app, ["backbone", "list"])
    assert "yes" in listed.output and rows["toy-charlm"]["dev perplexity"] in listed.output
    bad = runner.invoke(app, ["backbone", "build", "toy-charlm", "--epochs", "0"])
    assert bad.exit_code == 1 and "epochs must be a positive integer, got 0" in bad.output
    unknown = runner.invoke(app, ["backbone", "build", "nope"])
    assert unknown.exit_code == 1 and "unknown backbone 'nope'; known backbones: " in unknown.output
