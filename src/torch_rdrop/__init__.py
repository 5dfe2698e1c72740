"""R-Drop (Regularized Dropout) for PyTorch.

>>> import torch
>>> from torch_rdrop import RDrop
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 2))
>>> out = RDrop(net, alpha=0.5)(torch.randn(6, 4), target=torch.randint(0, 2, (6,)))
>>> out.loss.backward()
"""

from torch_rdrop.functional import (
    RDropLossResult,
    js_divergence,
    mse_consistency,
    rdrop_loss,
    symmetric_kl,
)
from torch_rdrop.losses import RDropLoss
from torch_rdrop.schedules import LinearWarmup, SigmoidRampup
from torch_rdrop.wrapper import NoDropoutWarning, RDrop, RDropOutput

__version__ = "0.1.0"

__all__ = [
    "LinearWarmup",
    "NoDropoutWarning",
    "RDrop",
    "RDropLoss",
    "RDropLossResult",
    "RDropOutput",
    "SigmoidRampup",
    "__version__",
    "js_divergence",
    "mse_consistency",
    "rdrop_loss",
    "symmetric_kl",
]
