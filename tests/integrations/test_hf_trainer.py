"""RDropTrainer's behaviour around the loss: evaluation, warnings, arguments, logs, bf16."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

transformers = pytest.importorskip("transformers")

from integrations.stand_ins import Examples, StandInClassifier, step_logs, train_with  # noqa: E402
from torch_rdrop import NoDropoutWarning  # noqa: E402
from torch_rdrop.integrations.hf import (  # noqa: E402
    RDropArguments,
    RDropTrainer,
    RDropTrainingArguments,
    multilabel_symmetric_kl,
    smoothed_cross_entropy,
)


def tiny_bert(dropout: float = 0.2):
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=3,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    return transformers.BertForSequenceClassification(config)


def bert_rows(n: int = 8):
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(1, 40, (n, 6), generator=gen)
    labels = torch.randint(0, 3, (n,), generator=gen)
    return [{"input_ids": ids[i], "labels": labels[i]} for i in range(n)]


def args(tmp_path, **extra):
    settings = {
        "output_dir": str(tmp_path),
        "report_to": "none",
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        "per_device_eval_batch_size": 4,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
    }
    return RDropTrainingArguments(**{**settings, **extra})


def test_evaluation_and_prediction_are_one_pass_with_the_vanilla_metrics(tmp_path) -> None:
    torch.manual_seed(0)
    model = tiny_bert()
    seen: list[int] = []
    model.register_forward_hook(lambda module, inputs, output: seen.append(output.logits.shape[0]))

    def accuracy(prediction):
        return {
            "accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())
        }

    data = bert_rows()
    rdrop = RDropTrainer(model=model, args=args(tmp_path), compute_metrics=accuracy)
    vanilla = transformers.Trainer(model=model, args=args(tmp_path), compute_metrics=accuracy)
    ours = rdrop.evaluate(data)
    assert seen == [4, 4]  # two batches of 4, never doubled
    reference = vanilla.evaluate(data)
    for key in ("eval_loss", "eval_accuracy"):
        assert ours[key] == reference[key]
    seen.clear()
    predicted = rdrop.predict(data)
    assert seen == [4, 4]
    assert predicted.predictions.shape == (8, 3)
    assert torch.equal(
        torch.as_tensor(predicted.predictions), torch.as_tensor(vanilla.predict(data).predictions)
    )


def test_disabled_dropout_warns(tmp_path) -> None:
    model = tiny_bert()
    for module in model.modules():  # what TRL's disable_dropout=True does
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    trainer = RDropTrainer(model=model, args=args(tmp_path, max_steps=1), train_dataset=bert_rows())
    with pytest.warns(NoDropoutWarning, match="disable_dropout"):
        trainer.train()
    assert step_logs(trainer)[0]["consistency"] == 0.0


def test_active_dropout_does_not_warn(tmp_path) -> None:
    trainer = RDropTrainer(
        model=tiny_bert(), args=args(tmp_path, max_steps=1), train_dataset=bert_rows()
    )
    with warnings_as_errors(NoDropoutWarning):
        trainer.train()
    assert step_logs(trainer)[0]["consistency"] > 0.0


class warnings_as_errors:  # noqa: N801 - used like a function
    def __init__(self, category):
        import warnings

        self.catch = warnings.catch_warnings()
        self.category = category
        self.warnings = warnings

    def __enter__(self):
        self.catch.__enter__()
        self.warnings.simplefilter("error", self.category)

    def __exit__(self, *exc):
        return self.catch.__exit__(*exc)


def test_logs_hold_the_parts_and_the_alpha_schedule(tmp_path) -> None:
    torch.manual_seed(0)
    trainer = train_with(
        RDropTrainer,
        StandInClassifier(),
        Examples(),
        str(tmp_path),
        batch_size=4,
        steps=3,
        rdrop_alpha=2.0,
        rdrop_alpha_warmup_steps=2,
    )
    logs = step_logs(trainer)
    assert [log["rdrop_alpha"] for log in logs] == [0.0, 1.0, 2.0]
    for log in logs:
        assert log["consistency"] > 0
        expected = log["task_loss"] + log["rdrop_alpha"] * log["consistency"]
        assert log["loss"] == pytest.approx(expected, rel=1e-5)


def test_plain_training_arguments_use_the_defaults(tmp_path) -> None:
    plain = transformers.TrainingArguments(output_dir=str(tmp_path), report_to="none")
    trainer = RDropTrainer(model=tiny_bert(), args=plain)
    assert trainer.rdrop_arguments() == RDropArguments()


def test_label_smoothing_is_applied_to_each_pass(tmp_path) -> None:
    task = {}
    for factor in (0.0, 0.5):
        torch.manual_seed(0)
        model = tiny_bert()
        with torch.no_grad():  # confident logits, for which smoothing changes the loss
            model.classifier.weight.mul_(200.0)
        trainer = RDropTrainer(
            model=model,
            args=args(tmp_path, max_steps=1, label_smoothing_factor=factor, learning_rate=0.0),
            train_dataset=bert_rows(),
        )
        trainer.train()
        task[factor] = step_logs(trainer)[0]["task_loss"]
    assert abs(task[0.5] - task[0.0]) > 1e-3
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, -100, 1])
    reference = transformers.trainer_pt_utils.LabelSmoother(epsilon=0.2)({"logits": logits}, labels)
    assert smoothed_cross_entropy(0.2)(logits, labels) == pytest.approx(reference.item(), rel=1e-5)


def test_compute_loss_func_is_refused_with_a_message(tmp_path) -> None:
    trainer = RDropTrainer(
        model=tiny_bert(),
        args=args(tmp_path, max_steps=1),
        train_dataset=bert_rows(),
        compute_loss_func=lambda outputs, labels, num_items_in_batch=None: outputs.logits.sum(),
    )
    with pytest.raises(ValueError, match="compute_loss_func"):
        trainer.train()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rdrop_alpha", -1.0, "alpha"),
        ("rdrop_passes", 1, "passes"),
        ("rdrop_layout", "stacked", "layout"),
        ("rdrop_divergence", "cosine", "rdrop_divergence"),
        ("rdrop_reduction", "none", "rdrop_reduction"),
        ("rdrop_alpha_warmup_steps", -3, "rdrop_alpha_warmup_steps"),
    ],
)
def test_bad_settings_are_refused(tmp_path, field, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        args(tmp_path, **{field: value})


def test_settings_show_in_the_argument_parser_help() -> None:
    parser = transformers.HfArgumentParser(RDropTrainingArguments)
    help_text = parser.format_help()
    for name in (
        "rdrop_alpha",
        "rdrop_passes",
        "rdrop_layout",
        "rdrop_divergence",
        "rdrop_reduction",
        "rdrop_alpha_warmup_steps",
    ):
        assert f"--{name}" in help_text
    (parsed,) = parser.parse_args_into_dataclasses(
        ["--output_dir", "x", "--rdrop_alpha", "0.3", "--rdrop_layout", "interleave"]
    )
    assert parsed.rdrop_alpha == 0.3 and parsed.rdrop_layout == "interleave"


def test_multilabel_kl_treats_labels_as_independent() -> None:
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    per_label = [
        multilabel_symmetric_kl(a[:, j : j + 1], b[:, j : j + 1], reduction="sum") for j in range(3)
    ]
    assert multilabel_symmetric_kl(a, b, reduction="sum") == pytest.approx(
        sum(per_label).item(), rel=1e-6
    )
    keep = torch.tensor([True, False, True, True])
    masked = multilabel_symmetric_kl(a, b, mask=keep)
    assert masked == pytest.approx(multilabel_symmetric_kl(a[keep], b[keep]).item(), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        multilabel_symmetric_kl(a, b[:2])


def test_bf16_consistency_is_close_to_fp32(tmp_path) -> None:
    logged = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        trainer = train_with(
            RDropTrainer,
            StandInClassifier(),
            Examples(),
            str(tmp_path),
            batch_size=8,
            steps=1,
            bf16=precision == "bf16",
        )
        logged[precision] = step_logs(trainer)[0]
    assert logged["fp32"]["consistency"] > 1e-3
    assert logged["bf16"]["consistency"] != logged["fp32"]["consistency"]  # autocast did run
    assert logged["bf16"]["consistency"] == pytest.approx(logged["fp32"]["consistency"], rel=0.05)
    assert logged["bf16"]["task_loss"] == pytest.approx(logged["fp32"]["task_loss"], rel=0.02)


def test_importing_the_package_imports_no_framework() -> None:
    code = (
        "import sys, torch_rdrop, torch_rdrop.integrations, torch_rdrop.integrations.distributed; "
        "print(sorted(m for m in ('transformers', 'lightning', 'accelerate') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_missing_extra_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.delitem(sys.modules, "torch_rdrop.integrations.lightning", raising=False)
    with pytest.raises(ImportError, match=r"torch-rdrop\[lightning\]"):
        import torch_rdrop.integrations.lightning  # noqa: F401
