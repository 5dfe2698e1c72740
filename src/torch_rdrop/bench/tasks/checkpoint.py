"""A local Hugging Face checkpoint folder as a model family: your model on your data.

:class:`CheckpointFamily` turns a folder written by ``model.save_pretrained(folder)`` and
``tokenizer.save_pretrained(folder)`` into the ``(data, dropout) -> (encoder, model)`` builder the
benchmark calls: the tokenizer comes from ``AutoTokenizer``, the model from
``AutoModelForSequenceClassification`` or ``AutoModelForTokenClassification`` (a fresh head
sized to the data set's labels) or ``AutoModelForSeq2SeqLM``, with every dropout field of its
config set to the run's rate. Nothing is downloaded (``local_files_only``).

:func:`check_checkpoint` runs first: a folder that is not a model raises :class:`CheckpointError`
naming what is missing.

>>> import tempfile
>>> check_checkpoint(tempfile.mkdtemp())
Traceback (most recent call last):
...
torch_rdrop.bench.tasks.checkpoint.CheckpointError: ... is not a model checkpoint: \
missing config.json, weights (model.safetensors, pytorch_model.bin or their .index.json), \
tokenizer files (tokenizer.json, tokenizer_config.json, vocab.txt, ...); files found: none. \
Write one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.new_weights import mark_new_weights
from torch_rdrop.bench.tasks.pooling import MeanPooledClassifier, check_pooling
from torch_rdrop.bench.tasks.text import IGNORE_INDEX, MiniLMEncoder, quiet_transformers

__all__ = [
    "CheckpointEncoder",
    "CheckpointError",
    "CheckpointFamily",
    "check_checkpoint",
    "load_checkpoint_model",
    "load_checkpoint_tokenizer",
    "set_dropout",
]

Data = ClassificationData | TaggingData | GenerationData
WEIGHTS = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
#: Config fields that hold a dropout probability (BERT's ``hidden_dropout_prob``, BART's
#: ``dropout``, T5's ``dropout_rate``, GPT-2's ``resid_pdrop``, ...).
DROPOUT_FIELD = re.compile(r"(^|_)(dropout|dropout_prob|dropout_rate|pdrop)$")


class CheckpointError(ValueError):
    """A checkpoint folder that cannot serve as a model family; the message says why."""


def check_checkpoint(path: str | Path) -> Path:
    """The folder, if it holds a config, weights and a tokenizer; else one error naming each gap."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file; a checkpoint is a folder (save_pretrained)")
    found = sorted(p.name for p in folder.iterdir())
    missing = []
    if "config.json" not in found:
        missing.append("config.json")
    if not any(name in found for name in WEIGHTS):
        missing.append("weights (model.safetensors, pytorch_model.bin or their .index.json)")
    if not any(name in found for name in TOKENIZER_FILES):
        missing.append(f"tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...)")
    if missing:
        shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "") or "none"
        raise CheckpointError(
            f"{folder} is not a model checkpoint: missing {', '.join(missing)}; files found: "
            f"{shown}. Write one with model.save_pretrained(folder) and "
            "tokenizer.save_pretrained(folder)"
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{folder / 'config.json'} is not valid JSON ({error})") from None
    if not isinstance(config, dict) or not config.get("model_type"):
        raise CheckpointError(f"{folder / 'config.json'} has no model_type")
    return folder


def set_dropout(config: Any, p: float) -> tuple[str, ...]:
    """Set every dropout field of a transformers config to ``p``; return the fields set.

    Fields left unset (``None``, like BERT's ``classifier_dropout``) are set too.

    >>> from types import SimpleNamespace
    >>> config = SimpleNamespace(hidden_dropout_prob=0.1, classifier_dropout=None, layerdrop=0.1,
    ...                          use_dropout=True)
    >>> config.to_dict = lambda: dict(vars(config))
    >>> set_dropout(config, 0.3), config.hidden_dropout_prob, config.layerdrop
    (('classifier_dropout', 'hidden_dropout_prob'), 0.3, 0.1)
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    names = []
    for name, value in sorted(config.to_dict().items()):
        if DROPOUT_FIELD.search(name) and (value is None or type(value) in (int, float)):
            setattr(config, name, float(p))
            names.append(name)
    return tuple(names)


@lru_cache(maxsize=4)
def load_checkpoint_tokenizer(path: str) -> Any:
    """The checkpoint's tokenizer (a padding token added from ``eos`` when it has none)."""
    from torch_rdrop.integrations import require

    transformers = require("transformers", "bench")
    folder = check_checkpoint(path)
    with quiet_transformers():
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise CheckpointError(f"{folder}: the tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _auto_class(data: Data) -> tuple[str, tuple[str, ...] | None]:
    if isinstance(data, ClassificationData):
        return "AutoModelForSequenceClassification", data.label_names
    if isinstance(data, TaggingData):
        return "AutoModelForTokenClassification", data.tag_names
    if isinstance(data, GenerationData):
        if not data.is_seq2seq:
            raise CheckpointError(f"{data.name}: a checkpoint family needs source/target pairs")
        return "AutoModelForSeq2SeqLM", None
    raise CheckpointError(f"data must be a bench data set, got {type(data).__name__}")


def load_checkpoint_model(
    path: str | Path, data: Data, dropout: float, pooling: str = "head"
) -> nn.Module:
    """The checkpoint with the head ``data`` needs and its dropout fields set to ``dropout``.

    ``pooling="mean"`` (classification only) puts a
    :class:`~torch_rdrop.bench.tasks.pooling.MeanPooledClassifier` on the checkpoint's body
    instead of its own sequence-classification head.
    """
    from torch_rdrop.integrations import require

    transformers = require("transformers", "bench")
    folder = check_checkpoint(path)
    if check_pooling(pooling) == "mean" and not isinstance(data, ClassificationData):
        raise CheckpointError(
            f"pooling='mean' is a classification head; {data.name} is not classification"
        )
    auto, labels = _auto_class(data)
    if pooling == "mean":
        auto = "AutoModel"
    config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if not set_dropout(config, dropout):
        raise CheckpointError(
            f"{folder}: config.json ({config.model_type}) has no dropout field (a name ending in "
            "dropout, dropout_prob, dropout_rate or pdrop): R-Drop needs dropout to compare "
            "two passes"
        )
    if labels is not None:
        config.id2label = dict(enumerate(labels))
        config.label2id = {name: i for i, name in enumerate(labels)}
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = load_checkpoint_tokenizer(str(folder)).pad_token_id
    try:
        with quiet_transformers():
            model, loading = getattr(transformers, auto).from_pretrained(
                str(folder), config=config, local_files_only=True, ignore_mismatched_sizes=True,
                output_loading_info=True,
            )  # fmt: skip
    except ValueError as error:  # "Unrecognized configuration class ... for this kind of AutoModel"
        raise CheckpointError(
            f"{folder}: a {config.model_type} checkpoint cannot load as {auto} "
            f"({str(error).splitlines()[0]})"
        ) from None
    new = [*loading["missing_keys"], *(name for name, *_ in loading.get("mismatched_keys", ()))]
    if pooling == "mean":
        pooled = MeanPooledClassifier(model, config.hidden_size, len(labels or ()), dropout)
        mark_new_weights(pooled, new, prefix="body.")
        return mark_new_weights(pooled, [name for name, _ in pooled.score.named_parameters()],
                                prefix="score.")  # fmt: skip
    return mark_new_weights(model, new)


def _decoder_start(folder: Path) -> int | None:
    """``decoder_start_token_id`` from config.json, else from generation_config.json."""
    for name in ("config.json", "generation_config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("decoder_start_token_id")
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


@dataclass(frozen=True)
class CheckpointEncoder:
    """Batches for a checkpoint's model: its tokenizer's inputs plus ``labels``.

    Classification and tagging batches are those of
    :class:`~torch_rdrop.bench.tasks.text.MiniLMEncoder` (a word's tag on its first sub-word,
    ``-100`` elsewhere). Sequence-to-sequence batches hold ``decoder_input_ids`` (the target
    shifted right after ``decoder_start``) and ``labels`` (the target, ``-100`` on padding).
    """

    tokenizer: Any
    max_length: int = 128
    max_target: int = 64
    decoder_start: int | None = None

    def batch(self, data: Data, indices: Sequence[int] | np.ndarray) -> dict:
        """The model's keyword arguments and ``labels`` for ``data`` at ``indices``."""
        if not isinstance(data, GenerationData):
            if isinstance(data, TaggingData) and not self.tokenizer.is_fast:
                raise CheckpointError(
                    f"tagging needs a fast tokenizer (word ids); {type(self.tokenizer).__name__} "
                    "is not one: save a tokenizer.json with the checkpoint"
                )
            return MiniLMEncoder(self.tokenizer, self.max_length).batch(data, indices)
        if data.targets is None or self.decoder_start is None:
            raise CheckpointError("sequence-to-sequence batches need targets and decoder_start")
        idx = np.asarray(indices, dtype=np.int64)
        out = dict(
            self.tokenizer(
                [data.inputs[i] for i in idx],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
        )
        out.pop("token_type_ids", None)
        target = self.tokenizer(
            text_target=[data.targets[i] for i in idx],
            truncation=True,
            max_length=self.max_target,
            padding=True,
            return_tensors="pt",
        )
        ids, mask = target["input_ids"], target["attention_mask"]
        start = torch.full((ids.shape[0], 1), self.decoder_start, dtype=ids.dtype)
        out["decoder_input_ids"] = torch.cat([start, ids[:, :-1]], dim=1)
        out["decoder_attention_mask"] = torch.cat([torch.ones_like(start), mask[:, :-1]], dim=1)
        out["labels"] = ids.masked_fill(mask == 0, IGNORE_INDEX)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids, special tokens dropped (for ROUGE of a seq2seq model)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True).strip()


@dataclass(frozen=True)
class CheckpointFamily:
    """A checkpoint folder as a model family: ``family(data, dropout) -> (encoder, model)``.

    The folder is checked when the family is made, so a task fails before anything runs.
    ``pooling`` is the classification head: ``"head"``, the checkpoint's own, or ``"mean"``, a
    linear layer on the mean of the token states (:mod:`~torch_rdrop.bench.tasks.pooling`).
    """

    path: Path
    max_length: int = 128
    max_target: int = 64
    pooling: str = "head"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", check_checkpoint(self.path).resolve())
        check_pooling(self.pooling)
        for name in ("max_length", "max_target"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")

    def encoder(self, data: Data) -> CheckpointEncoder:
        """The encoder for ``data`` (the decoder start token from the config for seq2seq)."""
        tokenizer = load_checkpoint_tokenizer(str(self.path))
        start = None
        if isinstance(data, GenerationData):
            start = _decoder_start(self.path)
            if start is None:
                raise CheckpointError(
                    f"{self.path}: config.json has no decoder_start_token_id; is it an "
                    "encoder-decoder (BART, T5)?"
                )
        return CheckpointEncoder(tokenizer, self.max_length, self.max_target, start)

    def model(self, data: Data, dropout: float) -> nn.Module:
        """A fresh copy of the checkpoint for ``data``, dropout set to ``dropout``."""
        return load_checkpoint_model(self.path, data, dropout, self.pooling)

    def __call__(self, data: Data, dropout: float) -> tuple[CheckpointEncoder, nn.Module]:
        """The encoder and the model, as the benchmark's family registry calls them."""
        return self.encoder(data), self.model(data, dropout)
