"""Integrations with training frameworks, one module each, imported on demand.

- :mod:`torch_rdrop.integrations.hf`: ``RDropTrainer``, ``RDropSeq2SeqTrainer``, the
  ``RDropTrainerMixin`` for your own Trainer subclasses and the ``RDrop*TrainingArguments``
  (extra ``torch-rdrop[hf]``).
- :mod:`torch_rdrop.integrations.trl`: ``RDropSFTTrainer`` and ``RDropSFTMixin`` for TRL's
  ``SFTTrainer``, with or without PEFT (extra ``torch-rdrop[trl]``).
- :mod:`torch_rdrop.integrations.lm`: the fused R-Drop LM head on a Hugging Face causal LM
  (hidden states without logits; used by the Trainer integration, extra ``torch-rdrop[hf]``).
- :mod:`torch_rdrop.integrations.lightning`: ``RDropModule``, a ``LightningModule`` base class
  (extra ``torch-rdrop[lightning]``).
- :mod:`torch_rdrop.integrations.distributed`: per-rank seeding for plain PyTorch, torchrun and
  Accelerate scripts (torch only).

Importing this package imports nothing beyond torch: each framework is imported by its own module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or raise an ImportError naming the extra that installs it.

    >>> require("math", "hf").sqrt(4.0)
    2.0
    >>> require("not_a_module_xyz", "hf")
    Traceback (most recent call last):
    ...
    ImportError: not_a_module_xyz is needed here: pip install "torch-rdrop[hf]"
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f'{module} is needed here: pip install "torch-rdrop[{extra}]"') from err
