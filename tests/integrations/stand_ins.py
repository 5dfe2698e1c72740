"""Hugging Face style stand-in models with hashed dropout (see ``hashed_dropout.py``), their
data and a Trainer run with settings under which the update is exactly the gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

from integrations.hashed_dropout import hashed_keep


class StandInClassifier(nn.Module):
    """Two-layer classifier with hashed dropout; its forward takes ``**kwargs`` as HF heads do."""

    def __init__(self, features: int = 6, hidden: int = 16, classes: int = 3, p: float = 0.3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, classes)
        self.p = p

    def body(self, x: Tensor, uid: Tensor, labels: Tensor | None) -> SequenceClassifierOutput:
        h = torch.tanh(self.inp(x))
        if self.training and self.p > 0:
            h = h * hashed_keep(uid, (h.shape[-1],), self.p).to(h.dtype) / (1 - self.p)
        logits = self.out(h)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def forward(self, x: Tensor, uid: Tensor, labels: Tensor | None = None, **kwargs):
        return self.body(x, uid, labels)


class StandInClassifierNoKwargs(StandInClassifier):
    """The same model with a closed signature: the Trainer does not count items for it."""

    def forward(self, x: Tensor, uid: Tensor, labels: Tensor | None = None):
        return self.body(x, uid, labels)


class StandInTagger(nn.Module):
    """Token classifier with hashed dropout; labels padded with -100 (mean over labelled)."""

    def __init__(self, features: int = 5, hidden: int = 12, classes: int = 4, p: float = 0.3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.out = nn.Linear(hidden, classes)
        self.p = p

    def forward(self, x: Tensor, uid: Tensor, labels: Tensor | None = None, **kwargs):
        h = torch.tanh(self.inp(x))
        if self.training and self.p > 0:
            keep = hashed_keep(uid, tuple(h.shape[1:]), self.p)
            h = h * keep.to(h.dtype) / (1 - self.p)
        logits = self.out(h)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits)


class Examples(torch.utils.data.Dataset):
    """``n`` fixed random examples for the stand-ins; ``tokens`` > 0 makes token examples whose
    number of labelled positions varies from 1 to ``tokens``."""

    def __init__(self, n: int = 16, features: int = 6, classes: int = 3, tokens: int = 0):
        gen = torch.Generator().manual_seed(1234)
        shape = (n, tokens, features) if tokens else (n, features)
        self.x = torch.randn(*shape, generator=gen)
        if tokens:
            self.labels = torch.randint(0, classes, (n, tokens), generator=gen)
            lengths = torch.randint(1, tokens + 1, (n,), generator=gen)
            self.labels[torch.arange(tokens).view(1, -1) >= lengths.view(-1, 1)] = -100
        else:
            self.labels = torch.randint(0, classes, (n,), generator=gen)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "uid": torch.tensor(i), "labels": self.labels[i]}


#: Trainer settings under which an update is the gradient times 0.5 (plain SGD at a constant rate,
#: no clipping, no weight decay), every step logged, on the CPU, nothing saved.
PLAIN_SGD: dict[str, object] = {
    "learning_rate": 0.5,
    "optim": "sgd",
    "lr_scheduler_type": "constant",
    "max_grad_norm": 0.0,
    "weight_decay": 0.0,
    "logging_steps": 1,
    "report_to": "none",
    "save_strategy": "no",
    "use_cpu": True,
}


def train_with(
    trainer_cls: type,
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    output_dir: str,
    batch_size: int,
    accumulation: int = 1,
    steps: int = 2,
    **overrides,
):
    """Train ``model`` with plain SGD (no clipping, constant lr: the update is the gradient) and
    return the trainer; every loss is logged."""
    from torch_rdrop.integrations.hf import RDropTrainingArguments

    settings = {
        **PLAIN_SGD,
        "output_dir": output_dir,
        "max_steps": steps,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": accumulation,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        "seed": 7,
        "rdrop_alpha": 2.0,
    }
    settings.update(overrides)
    args = RDropTrainingArguments(**settings)
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset)
    trainer.train()
    return trainer


def step_logs(trainer) -> list[dict[str, float]]:
    """The per-step training logs (those with a ``loss``)."""
    return [log for log in trainer.state.log_history if "loss" in log]


class DropoutProbe(StandInClassifier):
    """A classifier with a real ``nn.Dropout`` that records its first training mask."""

    def __init__(self) -> None:
        super().__init__(p=0.0)
        self.drop = nn.Dropout(0.5)
        self.first_mask: Tensor | None = None

    def forward(self, x: Tensor, uid: Tensor, labels: Tensor | None = None, **kwargs):
        h = self.drop(torch.tanh(self.inp(x)))
        if self.training and self.first_mask is None:
            self.first_mask = (h != 0).detach().clone()
        logits = self.out(h)
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
