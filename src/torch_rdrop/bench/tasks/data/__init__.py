"""Loaders for the benchmark's data, one file per source family.

Every loader reads files that an installed package ships (nothing is downloaded at run time),
checks the counts and label sets it reads, removes exact duplicates, and returns a typed data set
from :mod:`torch_rdrop.bench.tasks.data.base` with a fixed train/test split and its source and
licence.
A missing source raises :class:`FileNotFoundError` naming the command that installs it.
"""

from torch_rdrop.bench.tasks.data.base import (
    ClassificationData,
    GenerationData,
    TaggingData,
)
from torch_rdrop.bench.tasks.data.sources import Source, SourceMissingError

__all__ = ["ClassificationData", "GenerationData", "Source", "SourceMissingError", "TaggingData"]
