"""Reference models: hand-checked on tiny data, and on the shipped data at K = 16 they give the
values measured for the project's facts (seeds 0-4, the harness's own few-shot splits)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from torch_rdrop.bench.tasks import evaluation, get_task, metrics
from torch_rdrop.bench.tasks.data.base import ClassificationData, GenerationData, TaggingData
from torch_rdrop.bench.tasks.fewshot import few_shot
from torch_rdrop.bench.tasks.pixels import PixelEncoder
from torch_rdrop.bench.tasks.reference import (
    fit_reference,
    reference_model,
    reference_result,
    reference_score,
)
from torch_rdrop.bench.tasks.reference.char_ngram import WittenBellLM, char_ngram_nll, lm_streams
from torch_rdrop.bench.tasks.reference.lead import lead_headlines
from torch_rdrop.bench.tasks.reference.pixel_classifier import pixel_logreg
from torch_rdrop.bench.tasks.reference.tagger import most_frequent_tag
from torch_rdrop.bench.tasks.reference.text_classifier import tfidf_logreg, tfidf_vectorizer
from torch_rdrop.bench.tasks.text import CharLMEncoder

# -- most frequent tag -------------------------------------------------------------------------


def _pos_toy(language: str = "en") -> TaggingData:
    sentences = (
        (("The", "dog", "runs"), ["DT", "NN", "VBZ"]),
        (("the", "runs", "end"), ["DT", "NNS", "NN"]),
        (("A", "dog", "runs"), ["DT", "NN", "NNS"]),
        (("the", "Dog", "barks", "a"), ["DT", "NN", "VBZ", "DT"]),
    )
    names = ("DT", "NN", "NNS", "VBZ")
    return TaggingData(
        "toy-pos",
        tuple(words for words, _ in sentences),
        tuple([names.index(t) for t in tags] for _, tags in sentences),
        names,
        [0, 1, 2],
        [3],
        source=None,
        language=language,
    )


def test_most_frequent_tag_by_hand() -> None:
    data = _pos_toy()
    # the -> DT; dog -> NN; runs: NNS 2 vs VBZ 1 -> NNS; "barks" is unknown -> the most
    # frequent tag overall: DT and NN 3 each of 9, the tie goes to the lower id, DT
    lowered = most_frequent_tag(data, data.train, data.test, lower=True)
    assert [data.tag_names[t] for t in lowered[0]] == ["DT", "NN", "DT", "DT"]
    # case kept: "Dog" was never seen in training, so it gets the overall most frequent tag
    cased = most_frequent_tag(data, data.train, data.test, lower=False)
    assert [data.tag_names[t] for t in cased[0]] == ["DT", "DT", "DT", "DT"]


def test_most_frequent_tag_ties_go_to_the_more_frequent_tag_overall() -> None:
    data = TaggingData("toy-tie", (("x", "y"), ("x", "z"), ("x",)), ([0, 1], [1, 1], [0]),
                       ("A", "B"), [0, 1], [2], source=None, language="en")  # fmt: skip
    # "x" is A once and B once; B is the more frequent tag overall (3 of 4), so B, not id 0
    assert most_frequent_tag(data, data.train, data.test, lower=True)[0].tolist() == [1]


def test_tagging_reference_scores_token_accuracy_and_entity_f1() -> None:
    data = _pos_toy()
    assert reference_score("wsj-pos-lstm", data) == pytest.approx(3 / 4)
    names = ("O", "B-PER", "I-PER")
    ner = TaggingData(
        "toy-ner", (("张", "三", "说"), ("张", "说"), ("三", "说")), ([1, 2, 0], [1, 0], [2, 0]),
        names, [0], [1, 2], source=None, language="zh", outside=0,
    )  # fmt: skip
    # predicted: 张 -> B-PER, 三 -> I-PER, 说 -> O; row 1 holds the span (0, 1, PER); row 2's
    # stray I-PER also starts an entity (as bio_spans reads it): 2 true positives of 2 and 2
    assert reference_score("pd-ner-lstm", ner) == pytest.approx(1.0)
    assert reference_model("pd-ner-lstm").name == "most-frequent-tag"


# -- character n-gram model ----------------------------------------------------------------------


def _lm_toy() -> tuple[GenerationData, CharLMEncoder]:
    lines = ("今天天气很好", "今天很好", "天气好", "好天气今天很好很好", "今天好", "天天好",
             "气很好吗天气好")  # fmt: skip
    data = GenerationData("toy-lm", lines, None, [0, 1, 2, 3, 4], [5, 6], None, "zh")
    return data, CharLMEncoder.fit(data, max_len=6, min_freq=2)


def test_ngram_probabilities_sum_to_one_over_the_predictable_tokens() -> None:
    data, encoder = _lm_toy()
    size = len(encoder.vocab)
    lm = WittenBellLM.fit(lm_streams(encoder, data, data.train), 3, size, size - 2)
    outcomes = np.array([i for i in range(size) if i not in (0, encoder.BOS)])
    seen = [encoder.BOS, encoder.vocab.id("今")]  # a history from the training lines
    unseen = [encoder.vocab.id("好"), encoder.vocab.id("今")]
    start = [0, encoder.BOS]  # padding before <bos>: the start of a line
    for history in (seen, unseen, start):
        rows = np.repeat(np.array([history]), outcomes.size, axis=0)
        for order in (1, 2, 3):
            total = np.exp(lm.log_prob(rows, outcomes, order)).sum()
            assert total == pytest.approx(1.0, abs=1e-12), (history, order)


def test_unigram_and_bigram_probabilities_by_hand() -> None:
    streams = [
        (np.array([2, 4, 5, 4]), np.array([4, 5, 4, 3])),
        (np.array([2, 5]), np.array([5, 3])),
    ]
    lm = WittenBellLM.fit(streams, 2, vocab_size=6, outcomes=4)  # outcomes: ids 1, 3, 4, 5
    # unigram: counts 4:2, 5:2, 3:2 (6 tokens, 3 types): P(w) = (c + 3 / 4) / 9
    uni = {w: (c + 0.75) / 9 for w, c in {1: 0, 3: 2, 4: 2, 5: 2}.items()}
    # after 4: 5 once, <eos> once (2 tokens, 2 types): P(w | 4) = (c + 2 P(w)) / 4
    expected = {w: (c + 2 * uni[w]) / 4 for w, c in {1: 0, 3: 1, 4: 0, 5: 1}.items()}
    for w, p in expected.items():
        got = math.exp(lm.log_prob(np.array([[4]]), np.array([w]))[0])
        assert got == pytest.approx(p, rel=1e-12)
    unseen_history = math.exp(lm.log_prob(np.array([[3]]), np.array([4]))[0])
    assert unseen_history == pytest.approx(uni[4], rel=1e-12)  # backs off to the unigram


class _NGramAsLogits(nn.Module):
    """The n-gram model behind a network's interface: log-probabilities over the vocabulary."""

    def __init__(self, lm: WittenBellLM) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        b, t = input_ids.shape
        width = self.lm.order - 1
        ids = torch.cat([torch.zeros(b, width, dtype=torch.long), input_ids], 1).numpy()
        windows = np.lib.stride_tricks.sliding_window_view(ids, width + 1, axis=1)[:, :t, 1:]
        history = windows.reshape(b * t, width)
        size = self.lm.vocab_size
        logits = np.full((b * t, size), -np.inf)
        for w in range(size):
            if w not in (0, CharLMEncoder.BOS):
                logits[:, w] = self.lm.log_prob(history, np.full(b * t, w))
        return torch.from_numpy(logits.reshape(b, t, size))


def test_ngram_perplexity_equals_the_harness_perplexity_of_the_same_probabilities() -> None:
    data, encoder = _lm_toy()  # max_len 6: the long test line is cut (no <eos>); 吗 is <unk>
    nll, tokens, order = char_ngram_nll(data, data.train, data.test, encoder, orders=(2,))
    lm = WittenBellLM.fit(
        lm_streams(encoder, data, data.train), order, len(encoder.vocab), len(encoder.vocab) - 2
    )
    harness = evaluation.evaluate(
        get_task("pd-lm-gpt2"), _NGramAsLogits(lm), encoder, data, np.asarray(data.test)
    )
    labels = encoder.batch(data, data.test)["labels"]
    assert tokens == int((labels != -100).sum()) == 4 + 5  # 天天好<eos>, 气很好吗天 (cut)
    assert metrics.perplexity(nll, tokens) == pytest.approx(harness, rel=1e-6)  # float32 logits


def test_ngram_order_is_chosen_on_dev_lines() -> None:
    data = get_task("pd-lm-gpt2").load()
    encoder = CharLMEncoder.fit(data, max_len=128, min_freq=2)
    train = np.sort(data.train)[:2000]
    nll, tokens, order = char_ngram_nll(data, train, data.test[:200], encoder)
    unigram, same, _ = char_ngram_nll(data, train, data.test[:200], encoder, orders=(1,))
    assert order > 1 and tokens == same and nll < 0.8 * unigram  # with 2,000 lines, context helps


def test_ngram_refuses_int64_overflow_and_bad_orders() -> None:
    with pytest.raises(ValueError, match="overflows"):
        WittenBellLM.fit([], 6, vocab_size=5000, outcomes=10)
    with pytest.raises(ValueError, match="order must be >= 1"):
        WittenBellLM.fit([], 0, vocab_size=6, outcomes=4)


# -- lead-N headlines --------------------------------------------------------------------------


def test_lead_n_is_chosen_on_training_pairs_and_scored_by_rouge_l() -> None:
    data = GenerationData(
        "toy-headlines",
        ("Bank profits rise sharply in March as rates climb", "Storm hits coast towns overnight",
         "Bank shares fall sharply after the report"),
        ("Bank profits rise", "Storm hits coast", "Bank shares fall"),
        [0, 1], [2], source=None, language="en",
    )  # fmt: skip
    texts, n = lead_headlines(data, data.train, data.test)
    assert n == 3 and texts == ["Bank shares fall"]  # the 3-word lead is each title exactly
    result = reference_result("bbc-headlines-bart", data, seed=0)
    assert result.value == 1.0 and result.chosen == {"N": 3}
    _, four = lead_headlines(data, data.train, data.test, leads=(4, 5))
    assert four == 4
    # "bank shares fall sharply" against "bank shares fall": LCS 3, P 3/4, R 1, F 6/7
    assert metrics.rouge_l(["Bank shares fall sharply"], ["Bank shares fall"]) == pytest.approx(
        6 / 7
    )


# -- classifiers -------------------------------------------------------------------------------


def test_tfidf_settings_and_predictions() -> None:
    en, zh = tfidf_vectorizer("en").get_params(), tfidf_vectorizer("zh").get_params()
    assert (en["analyzer"], en["ngram_range"], en["sublinear_tf"]) == ("word", (1, 2), True)
    assert (zh["analyzer"], zh["ngram_range"], zh["sublinear_tf"]) == ("char", (1, 3), True)
    texts = ("很好 很好", "太差", "非常好", "差评 太差", "好", "差")
    data = ClassificationData("toy-zh", texts, [1, 0, 1, 0, 1, 0], ("neg", "pos"), [0, 1, 2, 3],
                              [4, 5], None, "zh")  # fmt: skip
    assert tfidf_logreg(data, data.train, data.test).tolist() == [1, 0]  # unseen texts: chars


def test_classification_reference_uses_the_tasks_metric() -> None:
    texts = ("good", "bad", "meh", "good good", "bad bad", "meh meh", "good", "bad", "good")
    data = ClassificationData("toy-3", texts, [0, 1, 2, 0, 1, 2, 0, 1, 2], ("g", "b", "m"),
                              range(6), [6, 7, 8], None, "en")  # fmt: skip
    # predictions g, b, g against gold g, b, m: accuracy 2/3, macro-F1 (2/3 + 1 + 0) / 3
    assert reference_score("mr-cnn", data) == pytest.approx(2 / 3)
    assert reference_score("tweets-lstm", data) == pytest.approx((2 / 3 + 1) / 3)


def test_pixel_reference_sees_the_pixels_as_the_networks_do() -> None:
    linear = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, size=(60, 4, 4)).astype(np.float64)
    labels = (images[:, 0, 0] > 8).astype(int)
    data = ClassificationData("toy-img", images, labels, ("lo", "hi"), range(40), range(40, 60),
                              None, "-")  # fmt: skip
    encoder = PixelEncoder.fit(data, max_value=16.0)
    flat = (images.reshape(60, -1) / 16.0 - encoder.mean) / encoder.std
    by_hand = linear.LogisticRegression(C=1.0, max_iter=1000).fit(flat[:40], labels[:40])
    got = pixel_logreg(data, data.train, data.test, encoder)
    assert got.tolist() == by_hand.predict(flat[40:]).tolist()


def test_entry_point_refuses_empty_splits() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        reference_score("digits-mlp", train=np.array([], dtype=np.int64))


# -- the shipped data, K = 16, seeds 0-4 -------------------------------------------------------


def _mean_at_16(task: str) -> float:
    t = get_task(task)
    data = t.load()
    values = [
        reference_score(t, data, few_shot(data, 16, seed, rare=t.rare).train, data.test, seed)
        for seed in range(5)
    ]
    return float(np.mean(values))


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("bbc-cnn", 0.926),
        ("mr-cnn", 0.547),
        ("tweets-lstm", 0.509),
        ("uncertainty-cnn", 0.603),
        ("reviews-zh-cnn", 0.609),
        ("wsj-pos-lstm", 0.733),
    ],
)
def test_reference_models_at_k16_match_the_measured_facts(task, expected) -> None:
    assert _mean_at_16(task) == pytest.approx(expected, abs=0.001)


def test_char_unigram_on_the_whole_training_split() -> None:
    data = get_task("pd-lm-gpt2").load()
    encoder = CharLMEncoder.fit(data, max_len=128, min_freq=2)
    nll, tokens, _ = char_ngram_nll(data, data.train, data.test, encoder, orders=(1,))
    # the project's facts say "about 690" (plain counts); Witten-Bell's unigram moves a share
    # T / (N + T) of its mass to the uniform floor over the 4,100 predictable tokens
    assert metrics.perplexity(nll, tokens) == pytest.approx(704.4, abs=0.1)


def test_lead_10_on_the_bbc_test_split() -> None:
    data = get_task("bbc-headlines-bart").load()
    texts, _ = lead_headlines(data, data.train[:50], data.test, leads=(10,))
    value = metrics.rouge_l(texts, [data.targets[i] for i in data.test])
    # whitespace words as written; the project's facts quote 0.195 for "the first 10 words"
    # counted some other way (the harness's word_tokens, punctuation included, give 0.214)
    assert value == pytest.approx(0.216, abs=0.001)


def test_a_reference_model_is_a_fit_predict_model_family() -> None:
    from torch_rdrop.bench.tasks import ModelFamily, Task, get_dataset, get_metric

    family = ModelFamily("reference", "pixel logistic regression", ("classification",),
                         inputs="images", fit=fit_reference)  # fmt: skip
    task = Task("digits-reference", get_dataset("digits"), family)
    data = task.load()
    split = few_shot(data, 16, 0)
    predictions = task.fit(data, split.train).predict(data, split.test)
    value = get_metric(task.metric).score(predictions)
    assert not task.trainable
    assert value == reference_score("digits-mlp", data, split.train, split.test)


@pytest.fixture
def reference_families():
    """The reference families, registered by default: kept registered afterwards, because later
    tests (the report's learning gate) resolve reference tasks through them."""
    from torch_rdrop.bench.tasks.reference.families import register_reference_families

    return register_reference_families(replace=True)


def test_reference_families_run_through_the_trial_backend(reference_families) -> None:
    from torch_rdrop.bench.engine.spec import TrialSpec
    from torch_rdrop.bench.tasks.trial import run_trial

    for task, family_task in (("digits-mlp", "digits-pixel-logreg"), ("mr-cnn", "mr-tfidf-logreg"),
                              ("wsj-pos-lstm", "wsj-pos-most-frequent-tag")):  # fmt: skip
        data = get_task(task).load()
        split = few_shot(data, 16, 1, rare=get_task(task).rare)
        result = run_trial(TrialSpec(family_task, "none", 16, 1, 0))
        assert result.value == reference_score(task, data, split.train, split.test)
    with pytest.raises(ValueError, match="only|none|apply"):
        run_trial(TrialSpec("digits-pixel-logreg", "rdrop", 16, 0, 0))
    with pytest.raises(ValueError, match="reference model is lead-n"):
        run_trial(TrialSpec("bbc-headlines-char-ngram", "none", 16, 0, 0))
