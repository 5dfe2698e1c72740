"""Benchmark: R-Drop against MixUp, Manifold-MixUp and adversarial training on real offline data.

Three layers, each a subpackage; nothing heavy is imported here:

- :mod:`torch_rdrop.bench.engine` — the Optuna engine: what a run is (``spec``), the store,
  resumable grids shared by many workers (``runner``) and TPE sweeps (``sweep``). It knows no
  task: a :class:`~torch_rdrop.bench.engine.spec.TrialBackend` brings the tasks and the training;
- :mod:`torch_rdrop.bench.tasks` — what the benchmark trains: the registries of methods, metrics,
  data sets and model families (a task is a data set x a model family), the data loaders, the
  encoders, the models, the few-shot splits and the trial backend that trains one run;
- :mod:`torch_rdrop.bench.report` — what the runs show: statistics, the report of a grid and the
  results book over several studies (tables and plots).

The dependencies point one way: ``report`` and ``tasks`` use ``engine``; ``engine`` uses neither.
"""
