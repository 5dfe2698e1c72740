"""Plain PyTorch training with the RDrop wrapper, single process or data-parallel.

The same script runs as is with ``python``, with torchrun and with Accelerate on CPU:

    python examples/torchrun_train.py --max-steps 50
    torchrun --standalone --nproc_per_node=2 examples/torchrun_train.py --max-steps 50
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \\
        --mixed_precision no --dynamo_backend no examples/torchrun_train.py --max-steps 50

Each rank reads its shard of scikit-learn's digits, wraps the DDP model in ``RDrop`` (one forward
of the doubled batch, so DDP sees one forward per backward) and seeds its dropout with
``seed + rank``. Rank 0 prints one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from torch_rdrop import RDrop
from torch_rdrop.integrations.distributed import current_rank, seed_per_rank, world_size


def digits() -> tuple[torch.utils.data.TensorDataset, torch.utils.data.TensorDataset]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    return (
        torch.utils.data.TensorDataset(x[:1400], y[:1400]),
        torch.utils.data.TensorDataset(x[1400:], y[1400:]),
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    torch.set_num_threads(1)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank, size = current_rank(), world_size()

    torch.manual_seed(options.seed)  # the same initial weights on every rank
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
    seed_per_rank(options.seed, rank)  # but each rank its own dropout masks
    ddp = DistributedDataParallel(model) if distributed else model
    rdrop = RDrop(ddp, alpha=options.alpha)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    train, test = digits()
    sampler = torch.utils.data.DistributedSampler(train, size, rank, seed=options.seed)
    loader = torch.utils.data.DataLoader(train, batch_size=options.batch_size, sampler=sampler)
    step, epoch, parts = 0, 0, torch.zeros(2)
    rdrop.train()
    while step < options.max_steps:
        sampler.set_epoch(epoch)
        for x, y in loader:
            rdrop.set_step(step)
            out = rdrop(x, target=y)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            parts = torch.stack([out.task_loss.detach(), out.consistency.detach()])
            step += 1
            if step == options.max_steps:
                break
        epoch += 1

    if distributed:
        dist.all_reduce(parts)
        parts /= size
    model.eval()
    with torch.no_grad():
        x, y = test.tensors
        accuracy = (model(x).argmax(-1) == y).float().mean().item()
    first_weight = model[0].weight.detach().flatten()[:4].clone()
    in_sync = True
    if distributed:
        gathered = [torch.zeros_like(first_weight) for _ in range(size)]
        dist.all_gather(gathered, first_weight)
        in_sync = all(torch.equal(gathered[0], other) for other in gathered)
        # Drop what holds the process group, then destroy it: a gloo group still referenced at
        # interpreter exit can abort the process ("terminate called without an active exception").
        del rdrop, ddp, out
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
    result = {
        "world_size": size,
        "task_loss": parts[0].item(),
        "consistency": parts[1].item(),
        "test_accuracy": accuracy,
        "weights_in_sync": in_sync,
    }
    if rank == 0:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
