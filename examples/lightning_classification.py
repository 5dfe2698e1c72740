"""R-Drop in Lightning: subclass RDropModule instead of LightningModule, write forward as usual.

An MLP with dropout on scikit-learn's digits; ``--devices 2`` trains with DDP on two CPU
processes, ``--precision bf16-mixed`` under bf16 autocast. Prints one JSON line (rank 0).

    python examples/lightning_classification.py --max-steps 100 --devices 2
"""

from __future__ import annotations

import argparse
import json

import lightning as L
import torch
from torch import nn

from torch_rdrop.integrations.distributed import shutdown_process_group
from torch_rdrop.integrations.lightning import RDropModule


class DigitsMLP(RDropModule):
    def __init__(self, alpha: float, dropout: float = 0.3) -> None:
        super().__init__(alpha=alpha)
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def validation_step(self, batch, batch_idx) -> None:
        x, y = batch
        logits = self(x)
        self.log("val/accuracy", (logits.argmax(-1) == y).float().mean(), sync_dist=True)
        self.log("val/loss", nn.functional.cross_entropy(logits, y), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=3e-3)


def loaders(batch_size: int):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    train = torch.utils.data.TensorDataset(x[:1400], y[:1400])
    test = torch.utils.data.TensorDataset(x[1400:], y[1400:])
    return (
        torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True),
        torch.utils.data.DataLoader(test, batch_size=256),
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--accumulate", type=int, default=1)
    options = parser.parse_args(argv)
    L.seed_everything(0, verbose=False)
    train, test = loaders(batch_size=32)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=options.devices,
        strategy="ddp" if options.devices > 1 else "auto",
        max_steps=options.max_steps,
        accumulate_grad_batches=options.accumulate,
        precision=options.precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    model = DigitsMLP(alpha=options.alpha)
    trainer.fit(model, train)
    fit_metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    trainer.validate(model, test, verbose=False)
    result = {
        "task_loss": fit_metrics["train/task_loss_epoch"],
        "consistency": fit_metrics["train/consistency_epoch"],
        "val_accuracy": float(trainer.callback_metrics["val/accuracy"]),
        "world_size": trainer.world_size,
    }
    if trainer.global_rank == 0:
        print(json.dumps(result), flush=True)
    del trainer, model  # nothing may hold the process group when it is destroyed
    shutdown_process_group()
    return result


if __name__ == "__main__":
    main()
