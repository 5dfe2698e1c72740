"""An interpolated Witten-Bell n-gram model over token ids, scored like the harness's char LM.

The language-model task (``pd-lm-gpt2``) scores a model by the perplexity per predicted token
of :class:`~torch_rdrop.bench.tasks.text.CharLMEncoder` batches: every line is ``<bos> c1 .. cn``
in and ``c1 .. cn <eos>`` out, characters seen fewer than twice in the training split are ``<unk>``,
lines are cut at ``max_len`` (a cut line has no ``<eos>`` target). :func:`char_ngram_nll` reads
the encoder's own batches, so the n-gram model predicts exactly the positions the neural model
predicts, over the same vocabulary, and its perplexity is comparable.

The model (Witten and Bell 1991, interpolated): with ``c(h, w)`` the count of token ``w`` after
history ``h``, ``c(h)`` their sum and ``T(h)`` the number of distinct tokens seen after ``h``,

    P(w | h) = (c(h, w) + T(h) * P(w | h')) / (c(h) + T(h))      (h' = h without its oldest token)

and ``P(w | h) = P(w | h')`` for a history never seen; the recursion ends in the uniform
distribution over the tokens that can be predicted (every id but padding and ``<bos>``), so the
probabilities of every history sum to one over those tokens and no token has probability 0.
Histories reach back over the line's start through padding ids, so ``<pad> <bos>`` is a history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from torch_rdrop.bench.tasks.data.base import GenerationData
from torch_rdrop.bench.tasks.text import CharLMEncoder

__all__ = ["ORDERS", "WittenBellLM", "char_ngram_nll", "lm_streams"]

#: The model orders tried on the dev lines (1 = unigram).
ORDERS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Share of the training lines held out to choose the order (at least one line).
DEV_SHARE = 0.1
_PAD = 0


def lm_streams(
    encoder: CharLMEncoder, data: GenerationData, indices: Sequence[int] | np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(inputs, targets)`` id arrays per line, the scored positions of the encoder's batches.

    >>> d = GenerationData("toy", ("ab", "b"), None, [0, 1], [], source=None, language="zh")
    >>> enc = CharLMEncoder.fit(d, min_freq=1)
    >>> [(i.tolist(), t.tolist()) for i, t in lm_streams(enc, d, [0, 1])]
    [([2, 5, 4], [5, 4, 3]), ([2, 4], [4, 3])]
    """
    out = []
    idx = np.asarray(indices, dtype=np.int64)
    for start in range(0, idx.size, 512):
        batch = encoder.batch(data, idx[start : start + 512])
        labels = batch["labels"].numpy()
        inputs = batch["input_ids"].numpy()
        for row_in, row_out in zip(inputs, labels, strict=True):
            scored = row_out != -100
            out.append((row_in[scored], row_out[scored]))
    return out


def _histories(
    streams: Sequence[tuple[np.ndarray, np.ndarray]], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """``[M, width]`` histories (oldest first, padded on the left) and the ``[M]`` targets."""
    rows, targets = [], []
    for inputs, out in streams:
        if width:
            padded = np.concatenate([np.full(width - 1, _PAD, dtype=np.int64), inputs])
            rows.append(np.lib.stride_tricks.sliding_window_view(padded, width))
        targets.append(out)
    target = np.concatenate(targets).astype(np.int64) if targets else np.zeros(0, np.int64)
    history = np.concatenate(rows) if width else np.zeros((target.size, 0), np.int64)
    return history.astype(np.int64), target


def _keys(history: np.ndarray, length: int, base: int) -> np.ndarray:
    """One int64 key per row for the last ``length`` tokens of each history."""
    key = np.zeros(history.shape[0], dtype=np.int64)
    for col in range(history.shape[1] - length, history.shape[1]):
        key = key * base + history[:, col]
    return key


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` in sorted ``keys``, 0 where a query key is absent."""
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, max(keys.size - 1, 0))
    hit = keys[pos] == query if keys.size else np.zeros(query.size, dtype=bool)
    return np.where(hit, values[pos] if keys.size else 0, 0)


@dataclass(frozen=True)
class _Level:
    """Counts for histories of one length: n-gram keys and counts, history totals and types."""

    gram_keys: np.ndarray
    gram_counts: np.ndarray
    history_keys: np.ndarray
    history_totals: np.ndarray
    history_types: np.ndarray


@dataclass(frozen=True)
class WittenBellLM:
    """Interpolated Witten-Bell model of ``order`` over ids ``0 .. vocab_size - 1``.

    ``outcomes`` is the number of ids that can be predicted (the uniform floor is ``1 /
    outcomes``); with :func:`char_ngram_nll` that is the vocabulary minus padding and ``<bos>``.

    >>> streams = [(np.array([2, 5, 4]), np.array([5, 4, 3]))]
    >>> lm = WittenBellLM.fit(streams, order=2, vocab_size=6, outcomes=4)
    >>> history = np.array([[2]])
    >>> probs = [float(np.exp(lm.log_prob(history, np.array([w]))[0])) for w in (1, 3, 4, 5)]
    >>> [round(p, 4) for p in probs], round(sum(probs), 10)
    ([0.0625, 0.1458, 0.1458, 0.6458], 1.0)
    """

    order: int
    vocab_size: int
    outcomes: int
    levels: tuple[_Level, ...]

    @classmethod
    def fit(
        cls,
        streams: Sequence[tuple[np.ndarray, np.ndarray]],
        order: int,
        vocab_size: int,
        outcomes: int,
    ) -> WittenBellLM:
        """Count the n-grams of orders 1 .. ``order`` of ``(inputs, targets)`` streams."""
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if outcomes < 1 or outcomes > vocab_size:
            raise ValueError(f"outcomes must lie in [1, {vocab_size}], got {outcomes}")
        if float(vocab_size) ** order >= 2.0**63:
            raise ValueError(
                f"order {order} with a vocabulary of {vocab_size} overflows the int64 n-gram keys"
            )
        history, target = _histories(streams, order - 1)
        levels = []
        for length in range(order):
            context = _keys(history, length, vocab_size)
            grams, counts = np.unique(context * vocab_size + target, return_counts=True)
            totals_keys, totals = np.unique(context, return_counts=True)
            type_keys, types = np.unique(grams // vocab_size, return_counts=True)
            if not np.array_equal(type_keys, totals_keys):  # pragma: no cover - by construction
                raise RuntimeError("history keys of totals and types differ")
            levels.append(_Level(grams, counts, totals_keys, totals, types))
        return cls(order, vocab_size, outcomes, tuple(levels))

    def log_prob(
        self, history: np.ndarray, target: np.ndarray, order: int | None = None
    ) -> np.ndarray:
        """Natural-log probability of each ``target`` after its ``history`` row.

        ``history`` is ``[M, >= order - 1]`` ids, oldest first (padding id 0 before a line's
        start); ``order`` (default: the fitted one) may be lower, to use fewer levels.
        """
        use = self.order if order is None else order
        if not 1 <= use <= self.order:
            raise ValueError(f"order must lie in [1, {self.order}], got {order}")
        history = np.asarray(history, dtype=np.int64).reshape(len(target), -1)
        if history.shape[1] < use - 1:
            raise ValueError(f"history has {history.shape[1]} columns; order {use} needs {use - 1}")
        target = np.asarray(target, dtype=np.int64)
        prob = np.full(target.size, 1.0 / self.outcomes)
        for length in range(use):
            level = self.levels[length]
            context = _keys(history, length, self.vocab_size)
            seen = _lookup(level.gram_keys, level.gram_counts, context * self.vocab_size + target)
            total = _lookup(level.history_keys, level.history_totals, context)
            types = _lookup(level.history_keys, level.history_types, context)
            known = total > 0
            prob = np.where(known, (seen + types * prob) / np.maximum(total + types, 1), prob)
        return np.log(prob)

    def nll(
        self, streams: Sequence[tuple[np.ndarray, np.ndarray]], order: int | None = None
    ) -> tuple[float, int]:
        """Summed negative log-likelihood (natural log) of the streams' targets and their count."""
        history, target = _histories(streams, self.order - 1)
        return float(-self.log_prob(history, target, order).sum()), int(target.size)


def char_ngram_nll(
    data: GenerationData,
    train: np.ndarray,
    test: np.ndarray,
    encoder: CharLMEncoder,
    seed: int = 0,
    orders: Sequence[int] = ORDERS,
) -> tuple[float, int, int]:
    """Fit on ``train`` lines, score ``test`` lines: ``(summed NLL, predicted tokens, order)``.

    The order is the one of ``orders`` with the lowest perplexity on a dev share
    (:data:`DEV_SHARE`, drawn by ``seed``) of the training lines, after fitting on the rest; the
    model is then refitted on every training line. Perplexity is
    ``metrics.perplexity(nll, tokens)``.
    """
    train = np.asarray(train, dtype=np.int64)
    if train.size == 0:
        raise ValueError("train must hold at least one line")
    size = len(encoder.vocab)
    outcomes = size - 2  # padding and <bos> are never predicted
    top = max(orders)
    best = top
    if train.size >= 2 and len(orders) > 1:
        shuffled = np.random.default_rng(seed).permutation(train)
        n_dev = max(1, round(DEV_SHARE * train.size))
        held = lm_streams(encoder, data, shuffled[:n_dev])
        lm = WittenBellLM.fit(lm_streams(encoder, data, shuffled[n_dev:]), top, size, outcomes)
        scores = {k: lm.nll(held, k)[0] for k in orders}
        best = min(orders, key=lambda k: (scores[k], k))
    lm = WittenBellLM.fit(lm_streams(encoder, data, train), best, size, outcomes)
    nll, tokens = lm.nll(lm_streams(encoder, data, test))
    return nll, tokens, best
