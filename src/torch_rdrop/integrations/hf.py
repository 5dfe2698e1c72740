"""R-Drop in the Hugging Face ``Trainer``: change the class name, nothing else.

>>> from torch_rdrop.integrations.hf import RDropTrainer, RDropTrainingArguments
>>> args = RDropTrainingArguments(output_dir="out", rdrop_alpha=0.5, report_to="none")
>>> (args.rdrop_alpha, args.rdrop_passes, args.rdrop_divergence)
(0.5, 2, 'auto')

``RDropTrainer(model=model, args=args, train_dataset=...)`` then trains with
``loss = mean task loss of the passes + alpha * consistency`` where the task loss is the model's
own loss (``labels`` are doubled with the batch) and the consistency is taken between the logits
of the passes, with ``-100`` positions of token labels masked out (shifted by one for causal LMs).
Evaluation and prediction are the Trainer's own single pass. Plain ``TrainingArguments`` work too
(R-Drop's defaults: alpha 1, two passes).

How the loss is scaled. ``compute_loss`` returns a loss already scaled for gradient accumulation
(``loss_is_scaled_for_ga = True``), so the update and the logged loss do not depend on how a batch
is split into micro-batches or processes:

- When the Trainer counts the labelled items of the whole accumulated batch
  (``num_items_in_batch``; it does for every model whose ``forward`` takes ``**kwargs``), the loss
  of a micro-batch holding ``n`` of the ``N`` items is weighted ``n / N`` (times the number of
  processes when ``average_tokens_across_devices`` sums ``N`` over them, since DDP averages the
  gradients). Token tasks whose micro-batches hold different numbers of labelled tokens then get
  exactly the loss of the whole batch.
- Otherwise the micro-batch mean is divided by the number of accumulation steps.

``num_items_in_batch`` is never passed to the model: not every head honours it (sequence
classification heads return a plain mean), which is what over-scales the vanilla Trainer's loss
under accumulation.

The logs (and so TensorBoard or any ``report_to``) get ``task_loss``, ``consistency`` and
``rdrop_alpha`` next to ``loss``, averaged like it.

Causal LMs train through the fused LM head by default (``rdrop_lm_head="auto"``,
:mod:`torch_rdrop.integrations.lm`): the model runs without computing its logits and the loss
comes from the last hidden states and the head's weight, chunk by chunk of tokens, with the same
value and gradient. It applies to a plain ``nn.Linear`` head without logit soft-capping or
scaling, with the symmetric KL (``batchmean``) and no label smoothing; elsewhere ``"auto"`` keeps
the logits, and ``"fused"`` raises an error saying why. Its logs add TRL's ``entropy`` and
``mean_token_accuracy`` of the first pass.

In a distributed run ranks ``r > 0`` re-seed torch with ``args.seed + r`` at their first training
step, so each rank draws its own dropout masks (the Trainer seeds every rank alike).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torch_rdrop._checks import check_alpha, check_passes, check_reduction
from torch_rdrop.functional import (
    consistency_mask_from_target,
    cross_entropy,
    multilabel_symmetric_kl,
)
from torch_rdrop.integrations import require
from torch_rdrop.integrations.distributed import seed_per_rank
from torch_rdrop.integrations.lm import fused_causal_lm_rdrop, fused_head_obstacle, is_causal_lm
from torch_rdrop.integrations.token_metrics import TokenSums
from torch_rdrop.layout import check_layout
from torch_rdrop.regularizers import METHODS, Regularizer, build_regularizer
from torch_rdrop.schedules import LinearWarmup, alpha_at
from torch_rdrop.wrapper import IDENTICAL_PASS_CHECKS, NoDropoutWarning, RDrop, default_logits

transformers = require("transformers", "hf")

from transformers import (  # noqa: E402
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
)

__all__ = [
    "RDropArguments",
    "RDropSeq2SeqTrainer",
    "RDropSeq2SeqTrainingArguments",
    "RDropTrainer",
    "RDropTrainerMixin",
    "RDropTrainingArguments",
    "RegularizedLoss",
    "multilabel_symmetric_kl",
]

DivergenceChoice = Literal["auto", "kl", "js", "mse"]
DIVERGENCE_CHOICES: tuple[str, ...] = ("auto", "kl", "js", "mse")
LMHeadChoice = Literal["auto", "fused", "logits"]
LM_HEAD_CHOICES: tuple[str, ...] = ("auto", "fused", "logits")


@dataclass
class RDropArguments:
    """The R-Drop settings, as dataclass fields that ``HfArgumentParser`` turns into flags."""

    rdrop_alpha: float = field(
        default=1.0,
        metadata={"help": "R-Drop: weight of the consistency term between the dropout passes."},
    )
    rdrop_passes: int = field(
        default=2,
        metadata={"help": "R-Drop: forward passes per batch (>= 2), each with its own dropout."},
    )
    rdrop_layout: Literal["concat", "interleave", "sequential"] = field(
        default="concat",
        metadata={
            "help": "R-Drop: 'concat' runs one forward on the batch stacked with itself, "
            "'interleave' stacks each example next to its copy, 'sequential' runs separate "
            "forwards (less memory, slower)."
        },
    )
    rdrop_divergence: DivergenceChoice = field(
        default="auto",
        metadata={
            "help": "R-Drop: consistency between passes. 'auto' picks MSE for regression heads, "
            "a per-label KL for multi-label heads and the symmetric KL otherwise; 'kl', 'js' "
            "and 'mse' force one."
        },
    )
    rdrop_reduction: Literal["batchmean", "sum", "mean"] = field(
        default="batchmean",
        metadata={
            "help": "R-Drop: reduction of the consistency term: 'batchmean' (sum over kept "
            "rows / their number), 'sum' (the original code's), 'mean' (also / classes)."
        },
    )
    rdrop_alpha_warmup_steps: int = field(
        default=0,
        metadata={"help": "R-Drop: optimizer steps over which alpha rises linearly from 0."},
    )
    rdrop_method: str = field(
        default="rdrop",
        metadata={
            "help": "Training method, with its papers' defaults (torch_rdrop.regularizers): "
            f"one of {', '.join(METHODS)}. The rdrop_* settings above apply to 'rdrop' and "
            "to the 'rdrop+...' combinations."
        },
    )

    rdrop_lm_head: LMHeadChoice = field(
        default="auto",
        metadata={
            "help": "R-Drop on causal LMs: 'fused' computes both passes' cross-entropy and "
            "their KL from the last hidden states in token chunks, never holding the logits; "
            "'logits' uses the model's logits; 'auto' is 'fused' where it applies (a plain "
            "nn.Linear head, no logit soft-capping or scaling, KL with batchmean, no label "
            "smoothing)."
        },
    )

    def __post_init__(self) -> None:
        check_alpha(self.rdrop_alpha)
        check_passes(self.rdrop_passes)
        check_layout(self.rdrop_layout)
        check_reduction(self.rdrop_reduction)
        if self.rdrop_reduction == "none":
            raise ValueError("rdrop_reduction 'none' does not give a scalar loss")
        if self.rdrop_divergence not in DIVERGENCE_CHOICES:
            raise ValueError(
                f"rdrop_divergence must be one of {DIVERGENCE_CHOICES}, "
                f"got {self.rdrop_divergence!r}"
            )
        if self.rdrop_lm_head not in LM_HEAD_CHOICES:
            raise ValueError(
                f"rdrop_lm_head must be one of {LM_HEAD_CHOICES}, got {self.rdrop_lm_head!r}"
            )
        steps = self.rdrop_alpha_warmup_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"rdrop_alpha_warmup_steps must be an integer >= 0, got {steps!r}")
        if self.rdrop_method not in METHODS:
            raise ValueError(f"rdrop_method must be one of {METHODS}, got {self.rdrop_method!r}")
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()

    @classmethod
    def from_args(cls, args: Any) -> RDropArguments:
        """The R-Drop settings found on ``args`` (any object), defaults for those missing."""
        return cls(**{f.name: getattr(args, f.name, f.default) for f in fields(cls)})


@dataclass
class RDropTrainingArguments(RDropArguments, TrainingArguments):
    """``TrainingArguments`` plus the ``rdrop_*`` fields of :class:`RDropArguments`."""


@dataclass
class RDropSeq2SeqTrainingArguments(RDropArguments, Seq2SeqTrainingArguments):
    """``Seq2SeqTrainingArguments`` plus the ``rdrop_*`` fields of :class:`RDropArguments`."""


def smoothed_cross_entropy(epsilon: float, shift: bool = False):
    """Task loss with label smoothing ``epsilon``, the Trainer's ``LabelSmoother`` on logits.

    ``shift=True`` scores position ``t`` against label ``t + 1`` (causal LMs).

    >>> loss = smoothed_cross_entropy(0.1)(torch.zeros(2, 4), torch.tensor([1, -100]))
    >>> round(loss.item(), 4)  # ln 4 whatever the smoothing, for uniform logits
    1.3863
    """

    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        if shift:
            logits, labels = logits[..., :-1, :], labels[..., 1:]
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            labels.reshape(-1),
            ignore_index=-100,
            label_smoothing=epsilon,
        )

    return loss


@dataclass
class RegularizedLoss:
    """What :meth:`RDropTrainerMixin.regularized_loss` returns for one micro-batch.

    Attributes:
        loss: the micro-batch's training loss, a mean over its items (not yet scaled for
            accumulation or processes).
        metrics: detached scalars to log, averaged like ``loss`` (e.g. ``task_loss``,
            ``consistency``).
        output: the model output to hand back when ``return_outputs=True``.
        alpha: the consistency weight used (logged as ``rdrop_alpha``); None for methods
            without R-Drop.
    """

    loss: Tensor
    metrics: dict[str, Tensor]
    output: Any
    alpha: float | None
    #: The first pass's next-token sums when the fused LM head ran (it computes no logits):
    #: what TRL's SFT metrics are made of.
    token_sums: TokenSums | None = None


def _shifted_logits(output: Any) -> Tensor:
    """A causal LM's logits without the last position, which predicts no label."""
    return default_logits(output)[..., :-1, :]


class RDropTrainerMixin:
    """R-Drop for any ``transformers.Trainer`` subclass: ``class T(RDropTrainerMixin, MyTrainer)``.

    Overrides ``compute_loss`` (training calls only; evaluation and prediction run the parent's
    single pass) and ``log`` (to add the averaged ``task_loss`` / ``consistency`` /
    ``rdrop_alpha`` to the training logs). The settings are read from ``args`` (the
    ``rdrop_*`` fields of :class:`RDropArguments`, their defaults if absent).

    The loss of one micro-batch comes from :meth:`regularized_loss`; override it to change the
    method, keeping its contract (a mean over the micro-batch's items, plus metrics to log).
    """

    #: ``compute_loss`` scales its loss for gradient accumulation itself (module docstring).
    loss_is_scaled_for_ga = True

    _rdrop: RDrop | None = None
    _regularizer: tuple[tuple[str, str, bool], Regularizer] | None = None
    _rdrop_seeded: bool = False
    _rdrop_sums: dict[str, Tensor] | None = None
    _rdrop_steps: set[int] | None = None
    _rdrop_alpha: float | None = None
    _identical_checks_left: int = IDENTICAL_PASS_CHECKS
    #: Set while passes are identical by construction (a fresh LoRA adapter): no warning then.
    rdrop_identity_check_paused: bool = False

    def rdrop_arguments(self) -> RDropArguments:
        """The R-Drop settings in force, read from ``self.args``."""
        return RDropArguments.from_args(self.args)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        """R-Drop loss of a training micro-batch, scaled for accumulation and processes."""
        if not model.training:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        self._seed_rank_once()
        result = self.regularized_loss(model, inputs)
        scale = self.micro_batch_weight(inputs, num_items_in_batch)
        self._accumulate_metrics(result, scale)
        loss = result.loss * scale
        return (loss, result.output) if return_outputs else loss

    def regularized_loss(self, model: nn.Module, inputs: Mapping[str, Any]) -> RegularizedLoss:
        """Run the R-Drop passes on one micro-batch; return its mean loss and the parts to log."""
        if self.compute_loss_func is not None:
            raise ValueError(
                "compute_loss_func is set: RDropTrainer computes the task loss from the model's "
                "own loss; give the model a loss, or subclass and override regularized_loss"
            )
        settings = self.rdrop_arguments()
        if settings.rdrop_method != "rdrop":
            return self.method_loss(model, inputs, settings)
        unwrapped = self.accelerator.unwrap_model(model)
        labels = inputs.get("labels")
        if self.use_fused_lm_head(unwrapped, inputs, settings):
            return self.fused_lm_loss(model, inputs, settings)
        rdrop = self._rdrop_for(model, settings)
        rdrop.set_step(self.state.global_step)
        rdrop.divergence = self.consistency_divergence(unwrapped, labels, settings)
        mask = self.consistency_mask(unwrapped, labels)
        if self.label_smoother is not None and isinstance(labels, Tensor):
            epsilon = float(self.args.label_smoothing_factor)
            rdrop.loss_fn = smoothed_cross_entropy(epsilon, shift=is_causal_lm(unwrapped))
            model_inputs = {key: value for key, value in inputs.items() if key != "labels"}
            out = rdrop(**model_inputs, target=labels, mask=mask)
        else:
            rdrop.loss_fn = None
            out = rdrop(**inputs, mask=mask)
        metrics = {"task_loss": out.task_loss.detach(), "consistency": out.consistency.detach()}
        return RegularizedLoss(out.loss, metrics, out.output, out.alpha)

    def use_fused_lm_head(
        self, model: nn.Module, inputs: Mapping[str, Any], settings: RDropArguments
    ) -> bool:
        """Whether this micro-batch goes through the fused LM head (``rdrop_lm_head``).

        ``"auto"`` falls back to the logits where the fused head does not apply; ``"fused"``
        raises a ``ValueError`` listing why it does not.
        """
        if settings.rdrop_lm_head == "logits":
            return False
        labels = inputs.get("shift_labels", inputs.get("labels"))
        reasons = []
        obstacle = fused_head_obstacle(model)
        if obstacle is not None:
            reasons.append(obstacle)
        else:
            divergence = self.consistency_divergence(model, labels, settings)
            if divergence != "kl":
                reasons.append(f"the divergence is {divergence!r}, not the symmetric KL")
        if settings.rdrop_reduction != "batchmean":
            reasons.append(f"rdrop_reduction is {settings.rdrop_reduction!r}, not 'batchmean'")
        if self.label_smoother is not None:
            reasons.append("label smoothing (label_smoothing_factor) needs the logits")
        if not isinstance(labels, Tensor) or labels.is_floating_point():
            reasons.append("the batch has no integer labels")
        config = getattr(model, "config", None)
        if inputs.get("output_router_logits", getattr(config, "output_router_logits", False)):
            reasons.append("the model adds a router auxiliary loss, which the fused head omits")
        if not reasons:
            return True
        if settings.rdrop_lm_head == "fused":
            raise ValueError("rdrop_lm_head='fused' does not apply: " + "; ".join(reasons))
        return False

    def fused_lm_loss(
        self, model: nn.Module, inputs: Mapping[str, Any], settings: RDropArguments
    ) -> RegularizedLoss:
        """One micro-batch of a causal LM through the fused head: the mean loss over its
        labelled next-token targets, and ``task_loss``, ``consistency``, ``entropy`` and
        ``mean_token_accuracy`` to log (the last two of the first pass, as TRL's SFT logs
        them)."""
        alpha = alpha_at(self._alpha_setting(settings), self.state.global_step)
        out = fused_causal_lm_rdrop(
            model,
            inputs,
            alpha=alpha,
            passes=settings.rdrop_passes,
            layout=settings.rdrop_layout,
        )
        self._warn_if_passes_identical(out.hidden, settings.rdrop_passes)
        metrics = {
            "task_loss": out.task_loss,
            "consistency": out.consistency,
            "entropy": out.entropy,
            "mean_token_accuracy": out.correct.float() / out.count.clamp_min(1).float(),
        }
        sums = TokenSums(out.entropy * out.count, out.correct, out.count)
        return RegularizedLoss(out.loss, metrics, out.output, alpha, token_sums=sums)

    def _warn_if_passes_identical(self, hidden: Tensor, passes: int) -> None:
        if self._identical_checks_left <= 0 or self.rdrop_identity_check_paused:
            return
        self._identical_checks_left -= 1
        first, second = hidden.chunk(passes)[:2]
        if not torch.equal(first, second):
            return
        self._identical_checks_left = 0
        warnings.warn(
            "RDropTrainer: the dropout passes gave identical hidden states, so the consistency "
            "term is 0 and R-Drop does nothing. Likely causes: dropout probabilities of 0 "
            "(attention_dropout, lora_dropout...), or a trainer that disabled dropout (e.g. "
            "TRL's disable_dropout=True).",
            NoDropoutWarning,
            stacklevel=3,
        )

    def method_loss(
        self, model: nn.Module, inputs: Mapping[str, Any], settings: RDropArguments
    ) -> RegularizedLoss:
        """One micro-batch under ``settings.rdrop_method`` (:mod:`torch_rdrop.regularizers`).

        The task loss is computed from the logits for the head's problem type; the logged
        metrics are the method's loss terms (``task_loss``, ``adversarial_loss``,
        ``consistency_loss`` = alpha * consistency...). The R-Drop term of the ``rdrop+...``
        combinations uses the divergence and the token mask the plain ``rdrop`` method uses
        (:meth:`consistency_divergence`; causal LMs are scored on logits and labels shifted by
        one, so the mask follows the labels that are predicted).
        """
        method = settings.rdrop_method
        unwrapped = self.accelerator.unwrap_model(model)
        labels = inputs.get("labels")
        shift = is_causal_lm(unwrapped) and isinstance(labels, Tensor)
        divergence = self.consistency_divergence(unwrapped, labels, settings)
        key = (method, divergence, shift)
        if self._regularizer is None or self._regularizer[0] != key:
            options: dict[str, Any] = {}
            if method.startswith("rdrop+"):
                options = {
                    "alpha": self._alpha_setting(settings),
                    "passes": settings.rdrop_passes,
                    "layout": settings.rdrop_layout,
                    "reduction": settings.rdrop_reduction,
                    "divergence": divergence,
                }
            logits_fn = _shifted_logits if shift else None
            self._regularizer = (key, build_regularizer(method, logits_fn=logits_fn, **options))
        regularizer = self._regularizer[1]
        regularizer.set_step(self.state.global_step)
        task = self.method_task_loss(unwrapped, labels, settings)
        batch = {name: value for name, value in inputs.items() if name != "labels"}
        target = labels[..., 1:] if shift else labels
        out = regularizer.training_loss(model, batch, target, task_loss=task)
        metrics = {("task_loss" if k == "task" else f"{k}_loss"): v for k, v in out.parts.items()}
        alpha = None
        if method.startswith("rdrop+"):
            alpha = alpha_at(self._alpha_setting(settings), self.state.global_step)
        return RegularizedLoss(out.loss, metrics, out.output, alpha)

    def method_task_loss(self, model: nn.Module, labels: Any, settings: RDropArguments) -> Any:
        """The task loss ``f(logits, target)`` of the head, as its own loss would compute it:
        MSE for regression, BCE for multi-label, cross-entropy otherwise (label-smoothed if the
        Trainer smooths). Causal-LM logits and labels arrive already aligned (shifted by one).
        Accepts the soft targets of MixUp."""
        auto = RDropArguments.from_args(settings)
        auto.rdrop_divergence = "auto"
        kind = self.consistency_divergence(model, labels, auto)
        if kind == "mse":
            return lambda logits, y: F.mse_loss(logits.squeeze(-1).float(), y.float())
        if kind == "multilabel":
            return lambda logits, y: F.binary_cross_entropy_with_logits(logits.float(), y.float())
        epsilon = float(self.args.label_smoothing_factor) if self.label_smoother else 0.0

        def loss(logits: Tensor, y: Tensor) -> Tensor:
            if epsilon == 0.0:
                return cross_entropy(logits, y)
            if y.is_floating_point():  # mixed soft targets
                size = logits.shape[-1]
                return F.cross_entropy(
                    logits.reshape(-1, size).float(),
                    y.reshape(-1, size).float(),
                    label_smoothing=epsilon,
                )
            return smoothed_cross_entropy(epsilon)(logits, y)

        return loss

    @staticmethod
    def _alpha_setting(settings: RDropArguments) -> Any:
        if settings.rdrop_alpha_warmup_steps > 0:
            return LinearWarmup(settings.rdrop_alpha, settings.rdrop_alpha_warmup_steps)
        return settings.rdrop_alpha

    def consistency_divergence(
        self, model: nn.Module, labels: Any, settings: RDropArguments
    ) -> str:
        """The divergence for this head, a key of :data:`torch_rdrop.functional.DIVERGENCES`:
        ``settings.rdrop_divergence`` or, for ``"auto"``, the one matching the head's
        ``problem_type`` as the Hugging Face heads decide it (``"mse"`` for regression,
        ``"multilabel"`` for multi-label classification, ``"kl"`` otherwise). Every method with
        an R-Drop term (``rdrop`` and the ``rdrop+...`` combinations) uses it."""
        if settings.rdrop_divergence != "auto":
            return settings.rdrop_divergence
        config = getattr(model, "config", None)
        problem = getattr(config, "problem_type", None)
        num_labels = getattr(config, "num_labels", None)
        if problem is None and isinstance(labels, Tensor) and num_labels is not None:
            if num_labels == 1:
                problem = "regression"
            elif labels.is_floating_point() and labels.dim() >= 2:
                problem = "multi_label_classification"
        if problem == "regression":
            return "mse"
        if problem == "multi_label_classification":
            return "multilabel"
        return "kl"

    def consistency_mask(self, model: nn.Module, labels: Any) -> Tensor | None:
        """Rows kept in the consistency term: token positions whose label is not -100.

        Causal LMs score position ``t`` against label ``t + 1``, so their mask is shifted (the
        last position predicts nothing). Example-level labels give None (every example counts).
        """
        if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dim() < 2:
            return None
        if not is_causal_lm(model):
            return consistency_mask_from_target(labels)
        keep = torch.zeros_like(labels, dtype=torch.bool)
        shifted = consistency_mask_from_target(labels[..., 1:])
        keep[..., :-1] = shifted if shifted is not None else True
        return keep

    def micro_batch_weight(
        self, inputs: Mapping[str, Any], num_items_in_batch: Tensor | int | None
    ) -> Tensor | float:
        """Weight of this micro-batch's mean loss in the step's loss (see the module docstring)."""
        count = self._count_items(inputs)
        if num_items_in_batch is None or count is None:
            steps = getattr(self, "current_gradient_accumulation_steps", None)
            return 1.0 / (steps or self.args.gradient_accumulation_steps)
        total = torch.as_tensor(num_items_in_batch, device=count.device).float()
        weight = count.float() / total.clamp_min(1.0)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            weight = weight * (self.accelerator.num_processes // self.get_tp_size())
        return weight

    def _count_items(self, inputs: Mapping[str, Any]) -> Tensor | None:
        """This micro-batch's share of ``num_items_in_batch``, counted as the Trainer counts it."""
        labels = inputs.get("shift_labels")
        if labels is None:
            labels = inputs.get("labels")
            if isinstance(labels, Tensor) and getattr(self, "_loss_shifts_labels", False):
                labels = labels[..., 1:]
        if not isinstance(labels, Tensor):
            return None
        return labels.ne(-100).sum()

    def _rdrop_for(self, model: nn.Module, settings: RDropArguments) -> RDrop:
        if self._rdrop is None or self._rdrop.model is not model:
            self._rdrop = RDrop(
                model,
                alpha=self._alpha_setting(settings),
                layout=settings.rdrop_layout,
                passes=settings.rdrop_passes,
                reduction=settings.rdrop_reduction,
            )
        return self._rdrop

    def _seed_rank_once(self) -> None:
        if self._rdrop_seeded:
            return
        self._rdrop_seeded = True
        if self.args.world_size > 1 and self.args.process_index > 0:
            seed_per_rank(self.args.seed, self.args.process_index)

    def _accumulate_metrics(self, result: RegularizedLoss, scale: Tensor | float) -> None:
        if self._rdrop_sums is None or self._rdrop_steps is None:
            self._rdrop_sums, self._rdrop_steps = {}, set()
        for name, value in result.metrics.items():
            weighted = value.detach().float() * scale
            previous = self._rdrop_sums.get(name)
            self._rdrop_sums[name] = weighted if previous is None else previous + weighted
        self._rdrop_steps.add(self.state.global_step)
        self._rdrop_alpha = result.alpha

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Add the averaged R-Drop metrics to a training log, then log as the parent does."""
        if "loss" in logs and self._rdrop_sums and self._rdrop_steps:
            names = sorted(self._rdrop_sums)
            sums = torch.stack([self._rdrop_sums[name] for name in names])
            if self.args.world_size > 1:
                sums = self.accelerator.reduce(sums, reduction="mean")
            values = (sums / len(self._rdrop_steps)).tolist()
            logs.update(dict(zip(names, values, strict=True)))
            if self._rdrop_alpha is not None:
                logs["rdrop_alpha"] = self._rdrop_alpha
            self._rdrop_sums, self._rdrop_steps = {}, set()
        super().log(logs, *args, **kwargs)


class RDropTrainer(RDropTrainerMixin, Trainer):
    """``transformers.Trainer`` training with R-Drop (see the module docstring)."""


class RDropSeq2SeqTrainer(RDropTrainerMixin, Seq2SeqTrainer):
    """``transformers.Seq2SeqTrainer`` training with R-Drop (see the module docstring)."""
