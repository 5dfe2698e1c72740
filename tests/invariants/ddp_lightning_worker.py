"""Run as a script by test_lightning_invariants.py: RDropModule under
``L.Trainer(accelerator="cpu", devices=2, strategy="ddp")`` (Lightning starts the second process
by running this script again); rank 0 saves the weights and the logged epoch means, each rank its
first real dropout mask with and without the per-rank seeding."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from integrations.lit_stand_ins import (
    LitDropoutProbe,
    LitStandIn,
    epoch_metrics,
    fit,
    flat_params,
)


def main(out: Path) -> None:
    torch.set_num_threads(1)
    ddp = {"devices": 2, "strategy": "ddp"}
    torch.manual_seed(0)
    module = LitStandIn()
    trainer = fit(module, str(out), batch_size=4, **ddp)
    if trainer.global_rank == 0:
        result = {"params": flat_params(module), "metrics": epoch_metrics(trainer)}
        torch.save(result, out / "lightning.pt")
    for name, seed_ranks in (("seeded", True), ("control", False)):
        torch.manual_seed(0)
        probe = LitDropoutProbe(seed_ranks=seed_ranks)
        trainer = fit(probe, str(out), batch_size=4, steps=1, **ddp)
        torch.save(probe.first_mask, out / f"mask-{name}-{trainer.global_rank}.pt")
    # drop what holds the process group before destroying it (a gloo group still referenced at
    # interpreter exit can abort the process: "terminate called without an active exception")
    del trainer, module, probe
    gc.collect()
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
