"""The fused R-Drop head on a Hugging Face causal LM: the passes' last hidden states, no logits.

:func:`fused_causal_lm_rdrop` stacks the passes of a batch, runs the model once with
``logits_to_keep`` set to an empty index (so its head projects zero positions) while a forward
hook on the decoder body (``model.base_model``, which ends with the final norm) captures the last
hidden states, and hands them with the head's weight and the next-token labels to
:func:`torch_rdrop.lm_head.fused_rdrop_lm_loss`. The model is called through whatever wraps it
(PEFT, DDP), so LoRA adapters and gradient synchronisation work as in an ordinary forward.

>>> import transformers
>>> config = transformers.LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32,
...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)
>>> model = transformers.LlamaForCausalLM(config).train()
>>> fused_head_obstacle(model) is None
True
>>> ids = torch.randint(0, 40, (3, 6))
>>> out = fused_causal_lm_rdrop(model, {"input_ids": ids, "labels": ids}, alpha=1.0)
>>> out.loss.backward()
>>> int(out.count)  # 3 sequences x 5 next-token targets
15
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from torch_rdrop.integrations import require
from torch_rdrop.layout import Layout, batch_size_of, check_layout, stack_copies
from torch_rdrop.lm_head import FusedLMLossResult, fused_rdrop_lm_loss

transformers = require("transformers", "hf")

from transformers.models.auto.modeling_auto import (  # noqa: E402
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
)

__all__ = [
    "LOGIT_TRANSFORMS",
    "FusedCausalLMOutput",
    "causal_lm_of",
    "fused_causal_lm_rdrop",
    "fused_head_obstacle",
    "is_causal_lm",
    "next_token_labels",
]

#: Config attributes that transform the logits after the head's matmul (soft-capping, scaling):
#: the fused head computes plain ``hidden @ W.T + b`` and must refuse these models.
LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "logits_scaling",
    "output_multiplier",
    "lm_head_multiplier",
)


class FusedCausalLMOutput(NamedTuple):
    """:class:`torch_rdrop.lm_head.FusedLMLossResult` plus the model's own output (its logits
    cover no position) and the stacked hidden states ``[passes * B, T, H]``."""

    loss: Tensor
    task_loss: Tensor
    consistency: Tensor
    entropy: Tensor
    correct: Tensor
    count: Tensor
    output: Any
    hidden: Tensor


def causal_lm_of(model: nn.Module) -> nn.Module:
    """The ``PreTrainedModel`` inside DDP / PEFT wrappers (the module holding the head)."""
    while True:
        inner = getattr(model, "module", None)
        if isinstance(inner, nn.Module) and type(model).__name__.endswith("DataParallel"):
            model = inner
            continue
        get_base = getattr(model, "get_base_model", None)
        if callable(get_base) and get_base() is not model:
            model = get_base()
            continue
        return model


def is_causal_lm(model: nn.Module) -> bool:
    """Whether ``model`` (unwrapped) is one of transformers' ``...ForCausalLM`` classes."""
    model = causal_lm_of(model)
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        return False
    return type(model).__name__ in set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())


def fused_head_obstacle(model: nn.Module) -> str | None:
    """Why the fused head cannot stand in for this model's logits, or None if it can.

    It can for a causal LM whose output embedding is a plain ``nn.Linear`` (tied or not), whose
    config transforms no logit (:data:`LOGIT_TRANSFORMS`) and whose forward takes
    ``logits_to_keep``.
    """
    lm = causal_lm_of(model)
    if not is_causal_lm(lm):
        return f"{type(lm).__name__} is not a causal LM (a transformers ...ForCausalLM)"
    head = lm.get_output_embeddings()
    if type(head) is not nn.Linear:
        return (
            f"its output embedding is a {type(head).__name__}, not a plain torch.nn.Linear "
            "(e.g. a LoRA adapter on lm_head)"
        )
    config = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    for name in LOGIT_TRANSFORMS:
        value = getattr(config, name, None)
        if value is not None and not (name != "final_logit_softcapping" and value == 1):
            return f"its config transforms the logits ({name}={value!r})"
    if "logits_to_keep" not in inspect.signature(lm.forward).parameters:
        return f"{type(lm).__name__}.forward takes no logits_to_keep"
    if lm.base_model is lm:
        return f"{type(lm).__name__} has no separate decoder body (base_model)"
    return None


def next_token_labels(labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Labels aligned with the positions that predict them: ``out[:, t] = labels[:, t + 1]``,
    the last position ``ignore_index`` (it predicts nothing).

    >>> next_token_labels(torch.tensor([[5, 6, 7], [8, -100, 9]]))
    tensor([[   6,    7, -100],
            [-100,    9, -100]])
    """
    aligned = torch.full_like(labels, ignore_index)
    aligned[..., :-1] = labels[..., 1:]
    return aligned


def _last_hidden_state(output: Any) -> Tensor:
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is None and isinstance(output, tuple | list):
        hidden = output[0]
    if not isinstance(hidden, Tensor):
        raise ValueError(
            f"the decoder body returned {type(output).__name__}, with no last_hidden_state"
        )
    return hidden


def _forward_without_logits(model: nn.Module, inputs: Mapping[str, Any]) -> tuple[Tensor, Any]:
    """Run ``model`` with an empty ``logits_to_keep``; return the body's last hidden states."""
    lm = causal_lm_of(model)
    captured: list[Tensor] = []

    def keep(_module: nn.Module, _args: Any, output: Any) -> None:
        captured.append(_last_hidden_state(output))

    handle = lm.base_model.register_forward_hook(keep)
    try:
        nothing = torch.empty(0, dtype=torch.long, device=lm.get_output_embeddings().weight.device)
        output = model(**inputs, logits_to_keep=nothing)
    finally:
        handle.remove()
    if len(captured) != 1:
        raise RuntimeError(f"the decoder body ran {len(captured)} times in one forward, not once")
    return captured[0], output


def fused_causal_lm_rdrop(
    model: nn.Module,
    inputs: Mapping[str, Any],
    *,
    alpha: float,
    passes: int = 2,
    layout: Layout = "concat",
    ignore_index: int = -100,
    chunk_size: int | None = None,
) -> FusedCausalLMOutput:
    """R-Drop loss of a causal LM on one batch through the fused head.

    Args:
        model: a transformers causal LM, possibly inside PEFT / DDP wrappers, in train mode.
        inputs: the batch as the model takes it, with ``labels`` (``[B, T]``, unshifted, as
            for the model's own loss) or ``shift_labels`` (already aligned).
        alpha, passes, ignore_index, chunk_size: as :func:`torch_rdrop.lm_head.fused_rdrop_lm_loss`.
        layout: how the passes are run: one forward on the stacked copies (``"concat"`` or
            ``"interleave"``) or ``passes`` forwards (``"sequential"``).

    Raises ``ValueError`` if the model cannot use the fused head (:func:`fused_head_obstacle`).
    """
    check_layout(layout)
    obstacle = fused_head_obstacle(model)
    if obstacle is not None:
        raise ValueError(f"the fused LM head does not apply to this model: {obstacle}")
    labels = inputs.get("shift_labels")
    if labels is None:
        labels = inputs.get("labels")
        if not isinstance(labels, Tensor):
            raise ValueError("the fused LM head needs labels (or shift_labels) in the batch")
        labels = next_token_labels(labels, ignore_index)
    model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
    batch = batch_size_of(model_inputs)
    if layout == "sequential":
        runs = [_forward_without_logits(model, model_inputs) for _ in range(passes)]
        hidden = torch.cat([h for h, _ in runs])
        output = runs[0][1]
    else:
        stacked = stack_copies(model_inputs, batch, passes, layout)
        hidden, output = _forward_without_logits(model, stacked)
        if layout == "interleave":  # rows b * passes + i -> i * B + b
            hidden = hidden.unflatten(0, (batch, passes)).transpose(0, 1).flatten(0, 1)
    head = causal_lm_of(model).get_output_embeddings()
    result: FusedLMLossResult = fused_rdrop_lm_loss(
        hidden,
        head.weight,
        labels.to(hidden.device),
        alpha=alpha,
        passes=passes,
        bias=head.bias,
        ignore_index=ignore_index,
        chunk_size=chunk_size,
    )
    return FusedCausalLMOutput(*result, output=output, hidden=hidden)
