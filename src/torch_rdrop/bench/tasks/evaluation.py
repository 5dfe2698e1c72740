"""How a trained model is scored: the task's metric of the bare model in eval mode.

Classifiers and taggers are scored from their arg-max predictions (the batches run from the
shortest examples to the longest, so that a batch pads to similar lengths), language models from
the gold tokens' summed NLL, sequence-to-sequence models from their greedy decoding; the metric
itself comes from the metric registry (:mod:`.metrics`).

>>> from types import SimpleNamespace
>>> length_order(SimpleNamespace(inputs=["a long one", "a", "mid"]), np.array([0, 1, 2]))
array([1, 2, 0])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torch_rdrop.bench.tasks.catalog import Task
from torch_rdrop.bench.tasks.data.base import TaggingData
from torch_rdrop.bench.tasks.metrics import Predictions, get_metric
from torch_rdrop.wrapper import default_logits

__all__ = ["EVAL_BATCH", "MIN_HEADLINE", "evaluate", "length_order", "predict", "with_max_length"]

#: Examples per evaluation batch.
EVAL_BATCH = 64
#: Decoded headlines have at least this many tokens: a small model trained on few examples puts
#: its first-step mass on ``<eos>`` (the one token every target has) and would decode nothing.
MIN_HEADLINE = 3

#: The fields that bound an encoder's input length, by encoder (the first one it has is set).
LENGTH_FIELDS = ("max_length", "max_len", "max_source")


def with_max_length(encoder: Any, max_length: int | None) -> Any:
    """``encoder`` keeping at most ``max_length`` input tokens (a text's, or a sequence-to-
    sequence source's); ``encoder`` itself when ``max_length`` is ``None``.

    >>> from torch_rdrop.bench.tasks.text import Seq2SeqEncoder, Vocab
    >>> with_max_length(Seq2SeqEncoder(Vocab(("<pad>", "<unk>"))), 128).max_source
    128
    >>> with_max_length(object(), 128)
    Traceback (most recent call last):
    ...
    ValueError: param max_length: the encoder object has no input length to set (none of \
max_length, max_len, max_source)
    """
    if max_length is None:
        return encoder
    for name in LENGTH_FIELDS:
        if hasattr(encoder, name) and dataclasses.is_dataclass(encoder):
            return dataclasses.replace(encoder, **{name: max_length})
    raise ValueError(
        f"param max_length: the encoder {type(encoder).__name__} has no input length to set "
        f"(none of {', '.join(LENGTH_FIELDS)})"
    )


def length_order(data: Any, indices: np.ndarray) -> np.ndarray:
    """Positions of ``indices`` from the shortest example to the longest (stable), so that an
    evaluation batch pads to the length of similar examples; the identity for inputs without a
    length (images).

    >>> from types import SimpleNamespace
    >>> length_order(SimpleNamespace(inputs=["a long one", "a", "mid"]), np.array([0, 1, 2]))
    array([1, 2, 0])
    """
    inputs = getattr(data, "inputs", None)
    if isinstance(data, TaggingData):
        lengths = [len(data.tokens[i]) for i in indices]
    elif inputs is not None and len(indices) and isinstance(inputs[indices[0]], str):
        lengths = [len(inputs[i]) for i in indices]
    else:
        return np.arange(len(indices))
    return np.argsort(np.asarray(lengths), kind="stable")


def predict(model: nn.Module, encoder: Any, data: Any, indices: np.ndarray) -> Predictions:
    """Arg-max predictions, gold labels and the gold tokens' summed NLL on ``indices`` (in the
    order of ``indices``; the batches run from the shortest examples to the longest)."""
    preds, golds, nll, counted = [], [], 0.0, 0
    order = length_order(data, np.asarray(indices))
    ordered = np.asarray(indices)[order]
    model.eval()
    with torch.no_grad():
        for start in range(0, len(ordered), EVAL_BATCH):
            batch = encoder.batch(data, ordered[start : start + EVAL_BATCH])
            labels = batch.pop("labels")
            logits = default_logits(model(**batch)).float()
            scored = labels != -100
            if logits.dim() == 3:
                nll += float(F.cross_entropy(logits[scored], labels[scored], reduction="sum"))
                counted += int(scored.sum())
            preds.extend(logits.argmax(-1).tolist())
            golds.extend(labels.tolist())
    back = np.argsort(order, kind="stable")  # rows in the order of ``indices`` again
    preds, golds = [preds[k] for k in back], [golds[k] for k in back]
    return Predictions(preds, golds, _names(data), nll, counted)


def _names(data: Any) -> tuple[str, ...]:
    """The names a label id indexes: the tags of tagging data, else the class names."""
    if isinstance(data, TaggingData):
        return data.tag_names
    return tuple(getattr(data, "label_names", ()))


def _headlines(model: nn.Module, encoder: Any, data: Any, indices: np.ndarray) -> Predictions:
    """The model's greedy decoding (at least :data:`MIN_HEADLINE` tokens, no repeated trigram)
    and the reference texts on ``indices``.

    An encoder with a ``decode(ids)`` method (a checkpoint's tokenizer) turns the generated ids
    into text itself; otherwise the encoder's vocabulary does, without ``<unk>``.
    """
    from torch_rdrop.bench.tasks.text import quiet_transformers

    own = getattr(encoder, "decode", None)
    if own is None:
        tokens, specials = encoder.vocab.tokens, {0, 1, encoder.BOS, encoder.EOS}
        suppress = [0, 1, encoder.BOS]  # padding, unknown word, start
    else:
        tokenizer, config = encoder.tokenizer, model.generation_config
        forced = {config.eos_token_id, config.forced_eos_token_id, config.forced_bos_token_id}
        suppress = sorted({tokenizer.pad_token_id, tokenizer.unk_token_id} - forced - {None})
    predictions: list[str] = []
    model.eval()
    with torch.no_grad(), quiet_transformers():
        for start in range(0, len(indices), EVAL_BATCH):
            batch = encoder.batch(data, indices[start : start + EVAL_BATCH])
            generated = model.generate(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                max_new_tokens=encoder.max_target,
                min_new_tokens=MIN_HEADLINE,
                no_repeat_ngram_size=3,
                suppress_tokens=suppress,
                num_beams=1,
                do_sample=False,
            )
            for row in generated.tolist():
                row = row[1:]  # the decoder start token
                if own is not None:
                    predictions.append(own(row))
                    continue
                row = row[: row.index(encoder.EOS)] if encoder.EOS in row else row
                predictions.append(" ".join(tokens[i] for i in row if i not in specials))
    return Predictions(texts=predictions, references=[data.targets[i] for i in indices])


def evaluate(task: Task, model: nn.Module, encoder: Any, data: Any, indices: np.ndarray) -> float:
    """The task's metric (from the metric registry) of ``model`` in eval mode on ``indices``."""
    metric = get_metric(task.metric)
    if metric.generates:
        return metric.score(_headlines(model, encoder, data, indices))
    return metric.score(predict(model, encoder, data, indices))
