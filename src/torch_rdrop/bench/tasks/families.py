"""The model families: name -> encoder and model factories, what they read, recipe defaults.

A :class:`ModelFamily` builds, for any data set it supports, an encoder fitted on the training
split and a fresh model with a given dropout rate; its recipe (epochs, batch size, learning rate,
dropout) is the default of every task that uses it. A family may instead be a non-neural
"fit/predict" model (``fit`` set): the trial fits it once on the training split, without an
optimizer, and only the method ``none`` applies to it.

Adding a model family is one file with its factories and one line::

    register_family(ModelFamily("gru", "word GRU (scratch)", ("classification",),
                                encoder=text_encoder, model=make_gru, **SCRATCH))

>>> get_family("minilm").languages, get_family("lstm").kinds
(('en',), ('classification', 'tagging'))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from torch import nn

from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.methods import KINDS
from torch_rdrop.bench.tasks.metrics import Predictions
from torch_rdrop.bench.tasks.pixels import PixelEncoder
from torch_rdrop.bench.tasks.registry import Registry
from torch_rdrop.bench.tasks.text import (
    CharLMEncoder,
    Encoder,
    MiniLMEncoder,
    Seq2SeqEncoder,
    TagEncoder,
    TextClassEncoder,
    char_tokens,
    minilm_path,
    word_tokens,
)

__all__ = [
    "FAMILIES",
    "ModelFamily",
    "Predictor",
    "family_names",
    "get_family",
    "register_family",
    "text_encoder",
]

Data = ClassificationData | TaggingData | GenerationData
#: Languages written without spaces: their text models read characters.
CHARACTER_LANGUAGES = ("zh", "ja")


class Predictor(Protocol):
    """A fitted non-neural model: predictions on some examples of a data set."""

    def predict(self, data: Any, indices: np.ndarray) -> Predictions: ...


@dataclass(frozen=True)
class ModelFamily:
    """A model family of the benchmark.

    Attributes:
        name: the name on the command line (a task is ``DATASET-FAMILY``).
        description: the model in a few words (``rdrop tasks`` shows it).
        kinds: the kinds of task it can learn.
        inputs: ``text`` or ``images``.
        languages: the languages it reads (None: any).
        encoder: ``data -> encoder`` fitted on ``data``'s training split.
        model: ``(data, encoder, dropout) -> nn.Module``.
        fit: for a non-neural model, ``(data, train_indices) -> Predictor`` (then ``encoder``
            and ``model`` are unused and only the method ``none`` applies).
        epochs, batch_size, lr, dropout: the recipe defaults of its tasks.
        check: ``() -> None``, raises ``ValueError`` when files the family reads are missing
            (a checkpoint not built yet); ``check_data`` calls it before anything runs or is
            stored.
        weights: ``() -> Path``, the pretrained weights its models start from (a checkpoint
            folder or file); each run stores their fingerprint (:mod:`.provenance`). None for
            a model trained from scratch.
    """

    name: str
    description: str
    kinds: tuple[str, ...]
    inputs: Literal["text", "images"] = "text"
    languages: tuple[str, ...] | None = None
    encoder: Callable[[Any], Encoder] | None = None
    model: Callable[[Any, Any, float], nn.Module] | None = None
    fit: Callable[[Any, np.ndarray], Predictor] | None = None
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    dropout: float = 0.5
    check: Callable[[], None] | None = None
    weights: Callable[[], Path] | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"model family {self.name}: kinds must be some of {KINDS}, "
                             f"got {self.kinds}")  # fmt: skip
        if self.fit is None and (self.encoder is None or self.model is None):
            raise ValueError(
                f"model family {self.name}: give encoder and model (a neural model) or fit"
            )

    @property
    def trainable(self) -> bool:
        """True for a neural model trained by the methods, False for a fit/predict model."""
        return self.fit is None

    def refuses(self, kind: str, inputs: str, language: str) -> str | None:
        """Why this family cannot learn such a data set (None if it can)."""
        if kind not in self.kinds:
            return f"it learns {', '.join(self.kinds)} tasks, not {kind}"
        if inputs != self.inputs:
            return f"it reads {self.inputs}, not {inputs}"
        if self.languages is not None and language not in self.languages:
            return f"it reads {', '.join(self.languages)}, not {language!r}"
        return None


FAMILIES: Registry[ModelFamily] = Registry("model family", "model families")
"""Every model family, by name."""


def register_family(family: ModelFamily, replace: bool = False) -> ModelFamily:
    """Add ``family`` to :data:`FAMILIES` (``replace`` to redefine a name)."""
    return FAMILIES.add(family.name, family, replace)


def get_family(name: str) -> ModelFamily:
    """The model family called ``name`` (``ValueError`` listing the known ones otherwise)."""
    return FAMILIES.get(name)


def family_names() -> tuple[str, ...]:
    """Every registered model family, in registration order."""
    return FAMILIES.names()


# -- encoders ---------------------------------------------------------------------------------


def text_encoder(data: ClassificationData | TaggingData) -> Encoder:
    """A vocabulary fitted on the training split: words, or characters for Chinese and Japanese;
    one tag per token for tagging data."""
    if isinstance(data, TaggingData):
        return TagEncoder.fit(data, max_len=256, lower=data.language == "en")
    if data.language in CHARACTER_LANGUAGES:
        return TextClassEncoder.fit(data, char_tokens, max_len=200, min_freq=1, max_size=8000)
    return TextClassEncoder.fit(data, word_tokens, max_len=256, min_freq=1, max_size=30000)


@cache
def _minilm_tokenizer(max_len: int = 128) -> MiniLMEncoder:
    return MiniLMEncoder.load(max_len)


def _minilm(data: Any) -> Encoder:
    return _minilm_tokenizer(128)


def _pixels(data: ClassificationData) -> Encoder:
    """Bytes scale by 255, other images by their largest value (16 for the digits)."""
    inputs = np.asarray(data.inputs)
    scale = 255.0 if inputs.dtype == np.uint8 else float(inputs.max())
    return PixelEncoder.fit(data, max_value=scale)


def _seq2seq(data: GenerationData) -> Encoder:
    return Seq2SeqEncoder.fit(data, max_source=256, max_target=24, max_size=8000)


def _char_lm(data: GenerationData) -> Encoder:
    return CharLMEncoder.fit(data, max_len=128, min_freq=2)


# -- models -----------------------------------------------------------------------------------


def _needs(data: Any, kind: type, family: str) -> None:
    if not isinstance(data, kind):
        raise ValueError(f"model family {family} needs {kind.__name__}, got {type(data).__name__}")


def _text_cnn(data: ClassificationData, enc: TextClassEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import TextCNN

    _needs(data, ClassificationData, "cnn")
    return TextCNN(len(enc.vocab), data.num_classes, dropout=p)


def _lstm(data: ClassificationData | TaggingData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import BiLSTMClassifier, BiLSTMTagger

    if isinstance(data, TaggingData):
        return BiLSTMTagger(len(enc.vocab), data.num_tags, dropout=p)
    return BiLSTMClassifier(len(enc.vocab), data.num_classes, dropout=p)


def _minilm_model(data: ClassificationData | TaggingData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import minilm_classifier, minilm_tagger

    if isinstance(data, TaggingData):
        return minilm_tagger(data.num_tags, dropout=p)
    return minilm_classifier(data.num_classes, dropout=p)


def _image_cnn(data: ClassificationData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import ImageCNN

    return ImageCNN(data.num_classes, image_size=data.inputs.shape[-1], dropout=p)


def _mlp(data: ClassificationData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import MLP

    side = data.inputs.shape[-1] * data.inputs.shape[-2]
    return MLP(side, data.num_classes, dropout=p)


def _bart(data: GenerationData, enc: Seq2SeqEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.tasks.models import tiny_bart

    if not data.is_seq2seq:
        raise ValueError(f"model family bart needs source/target pairs; {data.name} has texts only")
    return tiny_bart(len(enc.vocab), dropout=p, max_len=enc.max_source + 2)


def _minilm_seq2seq_encoder(data: GenerationData) -> Encoder:
    from torch_rdrop.bench.tasks.checkpoint import CheckpointEncoder

    tokenizer = _minilm_tokenizer(128).tokenizer
    return CheckpointEncoder(tokenizer, 256, 32, decoder_start=tokenizer.cls_token_id)


def _minilm_seq2seq_of(name: str, copy: bool) -> Callable[..., nn.Module]:
    """The model factory of a MiniLM encoder-decoder family (``copy``: a pointer-generator)."""

    def make(data: GenerationData, enc: Encoder, p: float) -> nn.Module:
        from torch_rdrop.bench.tasks.models import minilm_encoder_decoder

        if not data.is_seq2seq:
            raise ValueError(f"model family {name} needs source/target pairs; {data.name} has "
                             "texts only")  # fmt: skip
        return minilm_encoder_decoder(p, copy=copy)

    return make


def _gpt2_of(name: str, width: int, layers: int) -> Callable[..., nn.Module]:
    """The model factory of a character GPT-2 family of ``layers`` blocks of ``width``."""

    def make(data: GenerationData, enc: CharLMEncoder, p: float) -> nn.Module:
        from torch_rdrop.bench.tasks.models import tiny_gpt2

        if data.is_seq2seq:
            raise ValueError(f"model family {name} is a language model; {data.name} holds text "
                             "pairs")  # fmt: skip
        return tiny_gpt2(len(enc.vocab), dropout=p, max_len=enc.max_len, width=width, layers=layers)

    return make


# -- the built-in families --------------------------------------------------------------------

SCRATCH: dict[str, Any] = {"epochs": 20, "batch_size": 32, "lr": 1e-3, "dropout": 0.5}
"""The recipe of the small text models trained from scratch."""
_LABELS: Sequence[str] = ("classification", "tagging")

register_family(
    ModelFamily(
        "cnn",
        "text CNN (scratch; words, characters for zh)",
        ("classification",),
        encoder=text_encoder,
        model=_text_cnn,
        **SCRATCH,
    )
)
register_family(
    ModelFamily(
        "lstm",
        "BiLSTM classifier or tagger (scratch; words, characters for zh)",
        tuple(_LABELS),
        encoder=text_encoder,
        model=_lstm,
        **SCRATCH,
    )
)
register_family(
    ModelFamily(
        "minilm",
        "MiniLM-L6 (pretrained)",
        tuple(_LABELS),
        languages=("en",),
        encoder=_minilm,
        model=_minilm_model,
        weights=minilm_path,
        epochs=5,
        batch_size=16,
        lr=5e-5,
        dropout=0.1,
    )
)
register_family(
    ModelFamily(
        "image-cnn",
        "CNN (scratch)",
        ("classification",),
        inputs="images",
        encoder=_pixels,
        model=_image_cnn,
        epochs=10,
        batch_size=64,
        lr=1e-3,
        dropout=0.3,
    )
)
register_family(
    ModelFamily(
        "mlp",
        "MLP (scratch)",
        ("classification",),
        inputs="images",
        encoder=_pixels,
        model=_mlp,
        epochs=30,
        batch_size=32,
        lr=1e-3,
        dropout=0.3,
    )
)
register_family(
    ModelFamily(
        "bart",
        "tiny BART (config, scratch)",
        ("generation",),
        encoder=_seq2seq,
        model=_bart,
        epochs=20,
        batch_size=16,
        lr=5e-4,
        dropout=0.1,
    )
)
register_family(
    ModelFamily(
        "minilm2minilm",
        "MiniLM-L6 encoder-decoder (both sides pretrained)",
        ("generation",),
        languages=("en",),
        encoder=_minilm_seq2seq_encoder,
        model=_minilm_seq2seq_of("minilm2minilm", copy=False),
        weights=minilm_path,
        epochs=10,
        batch_size=16,
        lr=5e-5,
        dropout=0.1,
    )
)
register_family(
    ModelFamily(
        "minilm2minilm-copy",
        "MiniLM-L6 encoder-decoder that copies from its source (pointer-generator)",
        ("generation",),
        languages=("en",),
        encoder=_minilm_seq2seq_encoder,
        model=_minilm_seq2seq_of("minilm2minilm-copy", copy=True),
        weights=minilm_path,
        epochs=10,
        batch_size=16,
        lr=5e-5,
        dropout=0.1,
    )
)
CHAR_LM: dict[str, Any] = {"epochs": 3, "batch_size": 32, "lr": 5e-4, "dropout": 0.1}
"""The recipe of the character GPT-2 language models trained from scratch."""

register_family(ModelFamily("gpt2", "tiny GPT-2 char LM (config, scratch)", ("generation",),
                            encoder=_char_lm, model=_gpt2_of("gpt2", 128, 2),
                            **CHAR_LM))  # fmt: skip
register_family(ModelFamily("gpt2-wide", "GPT-2 char LM, 4 layers x 256 (config, scratch)",
                            ("generation",), encoder=_char_lm, model=_gpt2_of("gpt2-wide", 256, 4),
                            **CHAR_LM))  # fmt: skip
