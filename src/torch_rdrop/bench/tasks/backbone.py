"""Backbones made here: a language model pretrained by the benchmark, kept as a checkpoint folder.

A :class:`Backbone` names a language-model task of the benchmark (``pd-lm-gpt2-wide``: a character
GPT-2 on People's Daily), the recipe that pretrains it (:class:`PretrainRecipe`) and the data sets
it is fine-tuned on. ``rdrop backbone build NAME``
(:func:`~torch_rdrop.bench.tasks.backbone_build.build_backbone`) pretrains it and writes a
Hugging Face checkpoint folder with ``provenance.json``, which says how it was made.

Each backbone is also a model family of the same name, read through
:class:`~torch_rdrop.bench.tasks.checkpoint.CheckpointFamily` (a fresh classification head,
every dropout field set to the run's rate), with a task per fine-tuning data set
(``reviews-zh-pd-charlm``), and a second family, ``NAME-mean``, whose head reads the mean of
the token states instead of the last one (``reviews-zh-pd-charlm-mean``). The folder is
:func:`backbone_dir`: ``$TORCH_RDROP_CACHE/backbones/NAME``, by default
``~/.cache/torch-rdrop/backbones/NAME``. Until it is built, the family's tasks are listed but
refuse to run, naming the build command:

>>> import os, tempfile
>>> os.environ["TORCH_RDROP_CACHE"] = tempfile.mkdtemp()
>>> built_folder("pd-charlm")
Traceback (most recent call last):
...
torch_rdrop.bench.tasks.backbone.BackboneMissingError: backbone pd-charlm is not built: no \
checkpoint in .../backbones/pd-charlm. Build it with `rdrop backbone build pd-charlm` (...)
>>> del os.environ["TORCH_RDROP_CACHE"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from torch_rdrop.bench.tasks.catalog import register_task
from torch_rdrop.bench.tasks.checkpoint import CheckpointError, CheckpointFamily, check_checkpoint
from torch_rdrop.bench.tasks.data.sources import cache_dir
from torch_rdrop.bench.tasks.families import ModelFamily, register_family
from torch_rdrop.bench.tasks.pooling import POOLINGS, check_pooling, described_with_head
from torch_rdrop.bench.tasks.registry import Registry

__all__ = [
    "BACKBONES",
    "PROVENANCE",
    "Backbone",
    "BackboneMissingError",
    "PretrainRecipe",
    "backbone_dir",
    "backbone_family",
    "backbone_rows",
    "backbone_tasks",
    "built_folder",
    "family_name",
    "get_backbone",
    "read_provenance",
    "register_backbone",
]

#: The file beside the weights that says how they were made.
PROVENANCE = "provenance.json"


class BackboneMissingError(CheckpointError):
    """A backbone whose folder is not built yet; the message names the command that builds it."""


@dataclass(frozen=True)
class PretrainRecipe:
    """How a backbone is pretrained (the trial's parameters; ``dev_lines`` lines of the training
    split are held out for the dev perplexity, chosen by ``seed``).

    >>> PretrainRecipe(epochs=1).params()["select"]
    'best'
    """

    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 32
    dropout: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1
    dev_lines: int = 500

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "threads", "dev_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")

    def params(self) -> dict[str, Any]:
        """The trial parameters: this recipe, dev perplexity per epoch, test scored once at the
        end with the best dev epoch's weights."""
        return {
            "epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
            "dropout": self.dropout, "weight_decay": self.weight_decay, "threads": self.threads,
            "dev_shots": self.dev_lines, "select": "best", "recipe": "family",
        }  # fmt: skip


@dataclass(frozen=True)
class Backbone:
    """A backbone: the language-model task that pretrains it and the data sets it serves.

    Attributes:
        name: the name of the backbone, of its folder and of its model family.
        description: the model in a few words (``rdrop tasks`` shows it).
        lm_task: the benchmark's language-model task whose model is pretrained (a character LM:
            its encoder is a :class:`~torch_rdrop.bench.tasks.text.CharLMEncoder`).
        datasets: the data sets registered as tasks ``DATASET-NAME``.
        languages: the languages the family reads.
        recipe: the default pretraining recipe.
        cost: what building it costs, as the missing-folder error says.
        epochs, batch_size, lr, dropout: the fine-tuning recipe of its tasks (a starting point
            like every family's: a recipe chosen on dev replaces it, see :mod:`.recipes`).
    """

    name: str
    description: str
    lm_task: str
    datasets: tuple[str, ...]
    languages: tuple[str, ...]
    recipe: PretrainRecipe = PretrainRecipe()
    cost: str = ""
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-4
    dropout: float = 0.1


BACKBONES: Registry[Backbone] = Registry("backbone", "backbones")
"""Every backbone, by name."""


def get_backbone(name: str) -> Backbone:
    """The backbone called ``name`` (``ValueError`` listing the known ones otherwise)."""
    return BACKBONES.get(name)


def backbone_dir(name: str) -> Path:
    """Where backbone ``name`` is kept: ``$TORCH_RDROP_CACHE/backbones/NAME`` (not created).

    >>> backbone_dir("pd-charlm").parts[-2:]
    ('backbones', 'pd-charlm')
    """
    return cache_dir() / "backbones" / name


def built_folder(name: str) -> Path:
    """The checkpoint folder of backbone ``name``; :class:`BackboneMissingError` if unbuilt."""
    backbone = get_backbone(name)
    folder = backbone_dir(name)
    try:
        return check_checkpoint(folder)
    except CheckpointError as error:
        why = "no checkpoint in" if not folder.exists() else "an incomplete checkpoint in"
        cost = f" ({backbone.cost})" if backbone.cost else ""
        raise BackboneMissingError(
            f"backbone {name} is not built: {why} {folder}. Build it with `rdrop backbone build "
            f"{name}`{cost}" + ("" if not folder.exists() else f"; the folder says: {error}")
        ) from None


def family_name(backbone: str, pooling: str) -> str:
    """The model family of ``backbone`` with classification head ``pooling``.

    >>> family_name("pd-charlm", "head"), family_name("pd-charlm", "mean")
    ('pd-charlm', 'pd-charlm-mean')
    """
    return backbone if check_pooling(pooling) == "head" else f"{backbone}-{pooling}"


def backbone_family(backbone: Backbone, pooling: str = "head") -> ModelFamily:
    """The model family that fine-tunes ``backbone``'s folder (read when a task first runs).

    ``pooling``: the head on the backbone (see :mod:`~torch_rdrop.bench.tasks.pooling`); the
    family is named by :func:`family_name`.
    """

    def checkpoint() -> CheckpointFamily:
        return CheckpointFamily(built_folder(backbone.name), pooling=pooling)

    def encoder(data: Any) -> Any:
        return checkpoint().encoder(data)

    def model(data: Any, encoder: Any, dropout: float) -> nn.Module:
        return checkpoint().model(data, dropout)

    def check() -> None:
        built_folder(backbone.name)

    return ModelFamily(
        family_name(backbone.name, pooling), described_with_head(backbone.description, pooling),
        ("classification",), languages=backbone.languages, encoder=encoder, model=model,
        check=check, weights=lambda: built_folder(backbone.name), epochs=backbone.epochs,
        batch_size=backbone.batch_size, lr=backbone.lr, dropout=backbone.dropout,
    )  # fmt: skip


def backbone_tasks(backbone: Backbone) -> list[str]:
    """The tasks of ``backbone``: each data set with each head of :data:`POOLINGS`."""
    return [f"{d}-{family_name(backbone.name, p)}" for d in backbone.datasets for p in POOLINGS]


def register_backbone(backbone: Backbone, replace: bool = False) -> Backbone:
    """Add ``backbone``, a model family per head and a task per data set and head."""
    BACKBONES.add(backbone.name, backbone, replace)
    for pooling in POOLINGS:
        register_family(backbone_family(backbone, pooling), replace)
        for dataset in backbone.datasets:
            register_task(dataset, family_name(backbone.name, pooling), replace=replace)
    return backbone


def read_provenance(folder: str | Path) -> dict[str, Any] | None:
    """The ``provenance.json`` of a backbone folder (None if it has none)."""
    path = Path(folder).expanduser() / PROVENANCE
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    return found if isinstance(found, dict) else None


def backbone_rows() -> list[dict[str, str]]:
    """Rows of ``rdrop backbone list``: name, folder, built or not, recorded perplexities and the
    fingerprint of the built weights (the one its runs store, :mod:`.provenance`)."""
    from torch_rdrop.bench.tasks.provenance import weights_fingerprint

    rows = []
    for backbone in BACKBONES.values():
        folder = backbone_dir(backbone.name)
        try:
            built_folder(backbone.name)
        except BackboneMissingError:
            built, record = False, None
        else:
            built, record = True, read_provenance(folder)
        record = record or {}
        dev = record.get("dev_perplexity") or []
        rows.append({
            "name": backbone.name,
            "model": backbone.description,
            "folder": str(folder),
            "built": "yes" if built else f"no: rdrop backbone build {backbone.name}",
            "dev perplexity": f"{min(dev):.1f}" if dev else "-",
            "test perplexity": f"{record['test_perplexity']:.1f}" if "test_perplexity" in record
            else "-",
            "built on": str(record.get("built", "-")),
            "weights": weights_fingerprint(folder) if built else "-",
            "tasks": ", ".join(backbone_tasks(backbone)),
        })  # fmt: skip
    return rows


# -- the built-in backbone --------------------------------------------------------------------

#: What building ``pd-charlm`` costs with its default recipe, measured by
#: ``benchmarks/backbone_step.py`` (1 thread, batch 32).
PD_CHARLM_COST = "about 6 epochs x 531 steps x 2.2 s = 2 CPU-hours on 1 thread, plus evaluation"


def register_backbones() -> None:
    """Register the built-in backbones (once; their families and tasks with them)."""
    if "pd-charlm" in BACKBONES:
        return
    register_backbone(
        Backbone(
            "pd-charlm",
            "character GPT-2 pretrained on People's Daily (made here: rdrop backbone build)",
            lm_task="pd-lm-gpt2-wide",
            datasets=("reviews-zh",),
            recipe=PretrainRecipe(epochs=6),
            languages=("zh",),
            cost=PD_CHARLM_COST,
        )
    )
