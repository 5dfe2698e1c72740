"""Building a backbone: pretrain its language model through the benchmark's trial, write its folder.

:func:`build_backbone` trains the backbone's language-model task (:func:`pretrain`, through
:func:`~torch_rdrop.bench.tasks.trial.run_trial`: the training split minus a fixed dev slice, dev
perplexity after each epoch, the test split scored once at the end) and writes a Hugging Face
checkpoint folder (:func:`write_backbone`): the model (``save_pretrained``), its character
tokenizer and ``provenance.json`` (data, recipe, perplexities, versions, date). What a backbone
is, and where its folder lives, is :mod:`torch_rdrop.bench.tasks.backbone`.

>>> build_backbone("no-such-backbone")
Traceback (most recent call last):
...
ValueError: unknown backbone 'no-such-backbone'...
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torch_rdrop.bench.engine.spec import EpochCallback, SnapshotFile, TrialResult, TrialSpec
from torch_rdrop.bench.tasks.backbone import (
    PROVENANCE,
    Backbone,
    PretrainRecipe,
    backbone_dir,
    get_backbone,
)
from torch_rdrop.bench.tasks.checkpoint import check_checkpoint
from torch_rdrop.bench.tasks.fewshot import FewShotSplit
from torch_rdrop.bench.tasks.text import CharLMEncoder, char_tokens

__all__ = ["SNAPSHOT_SECONDS", "Pretrained", "build_backbone", "pretrain", "write_backbone"]

#: How often ``build_backbone(..., snapshot=...)`` saves its training state: every 5 minutes of
#: training, so a stopped build loses at most that much of an epoch of 15 or more.
SNAPSHOT_SECONDS = 300.0


@dataclass(frozen=True)
class Pretrained:
    """A pretrained language model with its character encoder and what the trial measured."""

    model: nn.Module
    encoder: CharLMEncoder
    result: TrialResult
    dev_perplexity_untrained: float
    lines: dict[str, int]


def pretrain(
    lm_task: str,
    recipe: PretrainRecipe,
    on_epoch: EpochCallback | None = None,
    snapshot: SnapshotFile | None = None,
) -> Pretrained:
    """Train ``lm_task``'s model on its training split with ``recipe`` (method ``none``).

    ``on_epoch(epoch, dev_perplexity, values)`` is called after each epoch. The dev perplexity of
    the same model untrained (same seed) is measured too, as the curve's starting point. With
    ``snapshot``, the training state is saved there as the run goes, a stopped run resumes from
    it, and the file is removed once the model is trained.
    """
    from torch_rdrop.bench.tasks.catalog import get_task
    from torch_rdrop.bench.tasks.evaluation import evaluate
    from torch_rdrop.bench.tasks.trial import run_trial

    task = get_task(lm_task)
    if task.kind != "generation" or task.metric != "perplexity":
        raise ValueError(
            f"lm_task must be a language-model task (generation scored by perplexity), got "
            f"{task.name} ({task.kind}, {task.metric})"
        )
    data = task.load()
    fitted = task.make_encoder(data)  # checked before training; the trial fits its own
    if not isinstance(fitted, CharLMEncoder):
        raise ValueError(
            f"lm_task {task.name}: a backbone needs a character LM encoder (CharLMEncoder), got "
            f"{type(fitted).__name__}"
        )
    kept: dict[str, Any] = {}

    def trained(model: nn.Module, encoder: CharLMEncoder, split: FewShotSplit) -> None:
        torch.manual_seed(recipe.seed)  # the trial's initial weights, before any step
        untrained = task.make_model(data, encoder, recipe.dropout)
        kept.update(model=model, encoder=encoder, split=split)
        kept["start"] = evaluate(task, untrained, encoder, data, split.dev)

    spec = TrialSpec(task.name, "none", None, recipe.seed, recipe.seed, recipe.params())
    result = run_trial(spec, on_epoch, on_trained=trained, snapshot=snapshot)
    if snapshot is not None:
        snapshot.path.unlink(missing_ok=True)
    encoder, split = kept["encoder"], kept["split"]  # the vocabulary and lines the model saw
    lines = {
        "train": len(split.train),
        "dev": len(split.dev),
        "test": len(split.test),
        "train_characters": sum(len(char_tokens(data.inputs[i])) for i in split.train),
    }
    return Pretrained(kept["model"], encoder, result, float(kept["start"]), lines)


def _replaceable(folder: Path) -> Path:
    """``folder`` if a backbone may be written there: new, empty, or an earlier backbone."""
    foreign = not (folder / PROVENANCE).is_file()
    if folder.exists() and foreign and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(
            f"out: {folder} exists and is not a backbone folder (no {PROVENANCE}); choose an "
            "empty or new folder"
        )
    return folder


def write_backbone(
    model: nn.Module, encoder: CharLMEncoder, folder: str | Path, provenance: dict[str, Any]
) -> Path:
    """Write ``model``, the tokenizer of ``encoder``'s vocabulary and ``provenance.json`` into
    ``folder``. An earlier backbone there is replaced whole (the files go to a sibling folder
    first, so a crash never leaves a half-written backbone); any other non-empty folder is
    refused, never deleted."""
    from torch_rdrop.bench.tasks.char_tokenizer import char_tokenizer

    folder = _replaceable(Path(folder).expanduser())
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save_pretrained(staging)
    char_tokenizer(encoder.vocab, encoder.max_len).save_pretrained(staging)
    text = json.dumps(provenance, indent=2, ensure_ascii=False) + "\n"
    (staging / PROVENANCE).write_text(text, encoding="utf-8")
    check_checkpoint(staging)
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    return folder


def _provenance(backbone: Backbone, recipe: PretrainRecipe, done: Pretrained) -> dict[str, Any]:
    import transformers

    import torch_rdrop
    from torch_rdrop.bench.tasks.catalog import get_task

    task = get_task(backbone.lm_task)
    config = done.model.config
    result = done.result
    source = task.source
    return {
        "backbone": backbone.name,
        "description": backbone.description,
        "pretrained_on": {
            "task": task.name,
            "dataset": task.dataset.name,
            "source": f"{source.package} {source.version} ({source.registry})" if source else "-",
            "lines": done.lines,
        },
        "model": {
            "type": config.model_type,
            "layers": config.n_layer,
            "width": config.n_embd,
            "heads": config.n_head,
            "positions": config.n_positions,
            "vocabulary": len(done.encoder.vocab),
            "parameters": sum(p.numel() for p in done.model.parameters()),
        },
        "recipe": {
            **dataclasses.asdict(recipe),
            "method": "none",
            "optimizer": "AdamW",
            "checkpoint": "best dev epoch",
        },
        "dev_perplexity_untrained": done.dev_perplexity_untrained,
        "dev_perplexity": list(result.curves["dev_perplexity"]),
        "best_epoch": int(result.metrics["best_epoch"]),
        "test_perplexity": result.metrics["perplexity"],
        "train_seconds": result.seconds,
        "seconds_per_step": result.metrics["seconds_per_step"],
        "versions": {
            "torch_rdrop": torch_rdrop.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def build_backbone(
    name: str,
    recipe: PretrainRecipe | None = None,
    out: str | Path | None = None,
    on_epoch: EpochCallback | None = None,
    snapshot: str | Path | None = None,
) -> Path:
    """Pretrain backbone ``name`` (its recipe unless ``recipe``) and write its folder
    (:func:`backbone_dir` unless ``out``); returns the folder. ``snapshot``: a file where the
    training state is saved every :data:`SNAPSHOT_SECONDS` of training (and after the last
    epoch), from which a stopped build resumes."""
    backbone = get_backbone(name)
    recipe = recipe or backbone.recipe
    folder = _replaceable(Path(out).expanduser() if out is not None else backbone_dir(name))
    saved = None
    if snapshot is not None:
        saved = SnapshotFile(Path(snapshot).expanduser(), SNAPSHOT_SECONDS)
    done = pretrain(backbone.lm_task, recipe, on_epoch, saved)
    return write_backbone(done.model, done.encoder, folder, _provenance(backbone, recipe, done))
