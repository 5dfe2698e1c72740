"""Run by ``torchrun --nproc_per_node=2`` from test_hf_ddp.py: trains the stand-ins with
RDropTrainer on two CPU processes (gloo) and saves what rank 0 sees, plus each rank's first
dropout mask with and without the per-rank seeding."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from integrations.stand_ins import (
    DropoutProbe,
    Examples,
    StandInClassifier,
    StandInTagger,
    step_logs,
    train_with,
)
from torch_rdrop.integrations.hf import RDropTrainer


class SameSeedOnEveryRank(RDropTrainer):
    """Control: the Trainer's own seeding only (every rank seeded alike)."""

    def _seed_rank_once(self) -> None:
        pass


def main(out: Path) -> None:
    torch.set_num_threads(1)
    cases = {
        "classifier": (StandInClassifier, Examples()),
        "tagger": (StandInTagger, Examples(features=5, classes=4, tokens=6)),
    }
    for name, (make_model, dataset) in cases.items():
        torch.manual_seed(0)
        model = make_model()
        trainer = train_with(RDropTrainer, model, dataset, str(out / name), batch_size=4)
        if trainer.args.process_index == 0:
            params = torch.cat([p.detach().flatten() for p in model.parameters()])
            torch.save({"params": params, "logs": step_logs(trainer)}, out / f"{name}.pt")
    for name, cls in (("seeded", RDropTrainer), ("control", SameSeedOnEveryRank)):
        torch.manual_seed(0)
        model = DropoutProbe()
        trainer = train_with(cls, model, Examples(), str(out / name), batch_size=4, steps=1)
        rank = trainer.args.process_index
        torch.save(model.first_mask, out / f"mask-{name}-{rank}.pt")
    # drop what holds the process group before destroying it (a gloo group still referenced at
    # interpreter exit can abort the process: "terminate called without an active exception")
    del trainer, model
    gc.collect()
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
