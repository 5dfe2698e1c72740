"""R-Drop in TRL's ``SFTTrainer``, with or without a PEFT (LoRA) adapter: change the class name.

>>> from torch_rdrop.integrations.trl import RDropSFTConfig, RDropSFTTrainer
>>> args = RDropSFTConfig(output_dir="out", rdrop_alpha=0.5, bf16=False, report_to="none")
>>> (args.rdrop_alpha, args.rdrop_passes)
(0.5, 2)

``RDropSFTTrainer(model=..., args=args, train_dataset=..., peft_config=LoraConfig(...))`` trains
with ``loss = mean NLL of the passes + alpha * symmetric KL`` between the passes' next-token
distributions, on exactly the tokens SFT trains on. A plain ``SFTConfig`` works too (alpha 1,
two passes). What it keeps of ``SFTTrainer``:

- **Metrics.** ``entropy``, ``mean_token_accuracy``, ``num_tokens`` (and ``aux_loss`` for
  mixture-of-experts models) are logged as SFT logs them on a plain step, from the first pass's
  logits, next to ``task_loss``, ``consistency`` and ``rdrop_alpha``. Evaluation is SFT's own
  single pass, with its ``eval_*`` metrics.
- **Loss masks.** TRL 1.16 turns ``completion_only_loss`` and ``assistant_only_loss`` into
  ``labels = -100`` when it prepares the data set; the consistency term keeps the positions whose
  next label is not -100, the very tokens of the NLL.
- **Packing and padding-free batches.** The copies are stacked as separate rows, so each keeps
  its own ``position_ids`` (the attention masks built from them never join sequences of two
  copies), and ``cu_seq_lens_*`` are extended to every copy for varlen attention kernels
  (:mod:`torch_rdrop.integrations.padding_free`).
- **Gradient accumulation.** The loss of a micro-batch is weighted by its share of SFT's token
  count ``num_items_in_batch``, as SFT's own loss is: (batch 2B, accumulation 1) and (batch B,
  accumulation 2) give the same update in fp32. ``SFTConfig`` turns ``bf16`` on by default, also
  on CPU; bf16 autocast rounds differently for different micro-batch shapes, which makes plain
  SFT (and R-Drop SFT alike) differ by about 1e-4 between the two splits: pass ``bf16=False``
  for an exact comparison. One difference remains for mixture-of-experts models: the router's
  load-balancing term, part of the model's own loss here, is weighted by the micro-batch's token
  share, where SFT weights it by 1 / accumulation steps.
- **PEFT.** ``peft_config=`` or a ``PeftModel``. A fresh LoRA adapter (B = 0) hides its dropout
  until its first update, so the identical-passes check (:class:`torch_rdrop.NoDropoutWarning`)
  waits for it: LoRA dropout alone is enough for R-Drop, no dropout at all still warns.

Refused with a ValueError: ``loss_type="dft"`` (R-Drop's task loss is the NLL), a
``compute_loss_func``, and a config with ``disable_dropout=True`` (TRL's DPO and KTO configs
default to it), which would make R-Drop a no-op.

Other trainers. :class:`RDropSFTMixin` goes in front of any ``SFTTrainer`` subclass:
``class MyRDropTrainer(RDropSFTMixin, MySFTTrainer)``; give its config the ``rdrop_*`` fields
with ``@dataclass class MyConfig(RDropArguments, MySFTConfig)``. TRL's preference and RL trainers
(DPO, KTO, GRPO, RLOO, reward) do not train on a token NLL of ``labels``; the mixin would replace
their objective, so it refuses them with a TypeError. For a ``transformers.Trainer`` subclass
use :class:`torch_rdrop.integrations.hf.RDropTrainerMixin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from torch_rdrop.integrations import require
from torch_rdrop.integrations.hf import RDropArguments, RDropTrainerMixin, RegularizedLoss
from torch_rdrop.integrations.padding_free import is_padding_free, stack_sequence_boundaries
from torch_rdrop.integrations.token_metrics import TokenSums, next_token_sums

require("trl", "trl")

from trl import SFTConfig, SFTTrainer  # noqa: E402

__all__ = ["RDropSFTConfig", "RDropSFTMixin", "RDropSFTTrainer", "adapter_is_silent"]


@dataclass
class RDropSFTConfig(RDropArguments, SFTConfig):
    """``trl.SFTConfig`` plus the ``rdrop_*`` fields of
    :class:`~torch_rdrop.integrations.hf.RDropArguments`."""


def adapter_is_silent(model: nn.Module) -> bool:
    """Whether ``model`` has LoRA adapters and every one of them still outputs zero (B = 0).

    PEFT initialises LoRA's B matrices to zero, so until the first update the adapter adds
    nothing and its dropout cannot change the output.

    >>> import torch
    >>> layer = torch.nn.Module()
    >>> layer.lora_B = torch.nn.Linear(2, 3, bias=False)
    >>> torch.nn.init.zeros_(layer.lora_B.weight) is not None and adapter_is_silent(layer)
    True
    >>> adapter_is_silent(torch.nn.Linear(2, 3))  # no adapter at all
    False
    """
    found = False
    for name, parameter in model.named_parameters():
        if "lora_B" in name or "lora_embedding_B" in name:
            found = True
            if bool(parameter.detach().ne(0).any()):
                return False
    return found


class RDropSFTMixin(RDropTrainerMixin):
    """R-Drop for ``SFTTrainer`` and its subclasses: ``class T(RDropSFTMixin, MySFTTrainer)``.

    Everything of :class:`~torch_rdrop.integrations.hf.RDropTrainerMixin`, plus SFT's metrics,
    padding-free batches, the LoRA-aware dropout check and the refusals of the module docstring.
    """

    _adapter_spoke: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not isinstance(self, SFTTrainer):
            raise TypeError(
                f"{type(self).__name__}: RDropSFTMixin needs an SFTTrainer subclass after it "
                "(TRL's DPO, KTO, GRPO, RLOO and reward trainers do not train on a token NLL); "
                "for a transformers.Trainer use torch_rdrop.integrations.hf.RDropTrainerMixin"
            )
        super().__init__(*args, **kwargs)
        if getattr(self.args, "disable_dropout", False):
            raise ValueError(
                "disable_dropout=True turns every dropout off, so R-Drop's passes would be "
                "identical: set disable_dropout=False in the trainer's config"
            )
        loss_type = getattr(self.args, "loss_type", "nll")
        if loss_type != "nll":
            raise ValueError(
                f"loss_type={loss_type!r} is not supported by R-Drop SFT, whose task loss is the "
                "model's NLL: use loss_type='nll'"
            )

    def regularized_loss(self, model: nn.Module, inputs: Mapping[str, Any]) -> RegularizedLoss:
        """SFT's inputs for the R-Drop passes; SFT's metrics from the first pass's logits."""
        settings = self.rdrop_arguments()
        model_inputs = dict(inputs)
        model_inputs["use_cache"] = False
        if getattr(self, "aux_loss_enabled", False):
            model_inputs["output_router_logits"] = True
        if is_padding_free(model_inputs):
            model_inputs = stack_sequence_boundaries(
                model_inputs, settings.rdrop_passes, settings.rdrop_layout
            )
        if settings.rdrop_method == "rdrop":
            rdrop = self._rdrop_for(model, settings)
            if not self._adapter_spoke:
                self._adapter_spoke = not adapter_is_silent(model)
            rdrop.pause_identity_check(not self._adapter_spoke)
            self.rdrop_identity_check_paused = not self._adapter_spoke  # the fused head's check
        result = super().regularized_loss(model, model_inputs)
        if result.token_sums is not None:  # the fused head: SFT logs these itself, once
            for name in ("entropy", "mean_token_accuracy"):
                result.metrics.pop(name, None)
        self.record_sft_metrics(inputs, result.output, result.token_sums)
        return result

    def record_sft_metrics(
        self, inputs: Mapping[str, Any], output: Any, sums: TokenSums | None = None
    ) -> None:
        """Record ``entropy``, ``mean_token_accuracy``, ``num_tokens`` (and ``aux_loss``) of a
        training micro-batch as ``SFTTrainer.compute_loss`` does: from ``sums`` when the fused
        LM head computed them (it holds no logits), else from ``output``'s logits."""
        metrics = self._metrics["train"]
        gather = self.accelerator.gather_for_metrics
        logits = getattr(output, "logits", None)
        labels = inputs.get("labels")
        if sums is None and isinstance(logits, Tensor) and isinstance(labels, Tensor):
            sums = next_token_sums(logits, labels)
        if sums is not None:
            count = gather(sums.count).sum()
            entropy = gather(sums.entropy).sum()
            correct = gather(sums.correct).sum()
            has_tokens = bool(count > 0)
            metrics["entropy"].append((entropy / count).item() if has_tokens else 0.0)
            metrics["mean_token_accuracy"].append((correct / count).item() if has_tokens else 0.0)
        mask = inputs.get("attention_mask")
        positions = inputs.get("position_ids")
        if isinstance(mask, Tensor):
            tokens = gather(mask.sum()).sum().item()
        elif isinstance(positions, Tensor):
            local = positions.new_tensor(positions.size(1))
            tokens = gather(local).sum().item()
        else:
            raise ValueError("Expected 'attention_mask' or 'position_ids' in the SFT inputs")
        self._total_train_tokens += tokens // getattr(self, "_tp_size", 1)
        metrics["num_tokens"] = [self._total_train_tokens]
        aux_loss = getattr(output, "aux_loss", None)
        if getattr(self, "aux_loss_enabled", False) and isinstance(aux_loss, Tensor):
            metrics["aux_loss"].append(gather(aux_loss.detach()).mean().item())


class RDropSFTTrainer(RDropSFTMixin, SFTTrainer):
    """``trl.SFTTrainer`` training with R-Drop (see the module docstring)."""
