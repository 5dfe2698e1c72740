"""``rdrop backbone``: pretrain a backbone made here (``build``) and list the backbones
(``list``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from torch_rdrop.cli.common import clean_errors, console, rows_table

__all__ = ["backbone_app"]

backbone_app = typer.Typer(
    help="Backbones pretrained here (a language model kept as a checkpoint folder): build, list.",
    no_args_is_help=True,
)


@backbone_app.command("build")
def backbone_build(
    name: Annotated[str, typer.Argument(help="The backbone (rdrop backbone list).")],
    epochs: Annotated[int | None, typer.Option(help="Epochs [default: the recipe's].")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate [default: the recipe's].")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size [default: the recipe's].")
    ] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout [default: the recipe's].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the init and the dev slice.")] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads [default: the recipe's].")
    ] = None,
    dev_lines: Annotated[
        int | None, typer.Option(help="Training lines held out for the dev perplexity.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write [default: the backbone's folder].")
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="File where the training state is saved every 5 minutes of training; the same "
            "command run again after a stop resumes from it (removed once the backbone is "
            "trained)."
        ),
    ] = None,
) -> None:
    """Pretrain a backbone and write its checkpoint folder (model, tokenizer, provenance.json)."""
    with clean_errors():
        import dataclasses

        from torch_rdrop.bench.tasks import check_data
        from torch_rdrop.bench.tasks.backbone import backbone_dir, get_backbone, read_provenance
        from torch_rdrop.bench.tasks.backbone_build import build_backbone
        from torch_rdrop.bench.tasks.provenance import weights_fingerprint

        backbone = get_backbone(name)
        given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "dropout": dropout,
                 "seed": seed, "threads": threads, "dev_lines": dev_lines}  # fmt: skip
        recipe = dataclasses.replace(
            backbone.recipe, **{k: v for k, v in given.items() if v is not None}
        )
        folder = out if out is not None else backbone_dir(name)
        shown = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(recipe).items())
        console.print(f"pretraining {name} on {backbone.lm_task} ({shown}) -> {folder}")
        check_data(backbone.lm_task)

        def on_epoch(epoch: int, value: float, values: Any) -> None:
            console.print(f"epoch {epoch + 1}/{recipe.epochs}: dev perplexity {value:.2f}")

        written = build_backbone(name, recipe, out, on_epoch, snapshot)
        record = read_provenance(written) or {}
        console.print(
            f"dev perplexity untrained {record.get('dev_perplexity_untrained', float('nan')):.1f}, "
            f"best epoch {record.get('best_epoch')}; test perplexity "
            f"{record.get('test_perplexity', float('nan')):.2f}"
        )
        console.print(f"wrote {written} (weights {weights_fingerprint(written)})")


@backbone_app.command("list")
def backbone_list() -> None:
    """The backbones: folder, built or not, the perplexities recorded when they were built."""
    with clean_errors():
        from torch_rdrop.bench.tasks.backbone import backbone_rows

        columns = ("name", "built", "dev perplexity", "test perplexity", "built on", "weights",
                   "folder", "tasks")  # fmt: skip
        console.print(rows_table("backbones", backbone_rows(), columns))
