"""Benchmark: R-Drop against MixUp, Manifold-MixUp and adversarial training on real offline data.

Nothing heavy is imported here; the submodules are imported on use:

- :mod:`torch_rdrop.bench.data` — loaders for the data sets that installed packages ship;
- :mod:`torch_rdrop.bench.fewshot` — K-shot, dev and semi-supervised splits by a data seed;
- :mod:`torch_rdrop.bench.text` — word, character and MiniLM WordPiece encoders;
- :mod:`torch_rdrop.bench.models` — the models with a configurable dropout;
- :mod:`torch_rdrop.bench.tasks` — one declarative definition per benchmark task.
"""
