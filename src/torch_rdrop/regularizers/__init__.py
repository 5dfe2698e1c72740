"""R-Drop and the methods it is compared with, behind one interface.

>>> import torch
>>> from torch_rdrop.regularizers import build_regularizer
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.1), torch.nn.Linear(8, 2))
>>> method = build_regularizer("mixup", alpha=0.4)
>>> out = method.training_loss(net, torch.randn(6, 4), torch.tensor([0, 1] * 3))
>>> out.loss.backward()  # once; then optimizer.step()

See :mod:`torch_rdrop.regularizers.base` for the contract.
"""

from torch_rdrop.regularizers.adversarial import (
    FGM,
    PGD,
    FGMConfig,
    FreeLB,
    FreeLBConfig,
    PGDConfig,
)
from torch_rdrop.regularizers.base import Regularizer, RegularizerOutput, call_model, split_target
from torch_rdrop.regularizers.baseline import NoneConfig, NoRegularization
from torch_rdrop.regularizers.factory import (
    METHODS,
    MethodName,
    RegularizerConfig,
    build_regularizer,
    config_for,
)
from torch_rdrop.regularizers.manifold_mixup import ManifoldMixup, ManifoldMixupConfig
from torch_rdrop.regularizers.mixup import Mixup, MixupConfig
from torch_rdrop.regularizers.rdrop import RDropConfig, RDropRegularizer

__all__ = [
    "FGM",
    "METHODS",
    "PGD",
    "FGMConfig",
    "FreeLB",
    "FreeLBConfig",
    "ManifoldMixup",
    "ManifoldMixupConfig",
    "MethodName",
    "Mixup",
    "MixupConfig",
    "NoRegularization",
    "NoneConfig",
    "PGDConfig",
    "RDropConfig",
    "RDropRegularizer",
    "Regularizer",
    "RegularizerConfig",
    "RegularizerOutput",
    "build_regularizer",
    "call_model",
    "config_for",
    "split_target",
]
