"""The Optuna engine: grids and sweeps of runs on a store, knowing no task.

- :mod:`~torch_rdrop.bench.engine.spec` — plain data: a run (:class:`TrialSpec`), its result
  (:class:`TrialResult`), a grid of runs and the seam to the training code
  (:class:`TrialBackend`), with the parsers of the command-line values;
- :mod:`~torch_rdrop.bench.engine.store` — SQLite / PostgreSQL stores, heartbeats, clear errors;
- :mod:`~torch_rdrop.bench.engine.runner` — a grid as a resumable study shared by workers;
- :mod:`~torch_rdrop.bench.engine.sweep` — TPE over a method's search space, median pruning;
- :mod:`~torch_rdrop.bench.engine.status` — where a store's studies stand, read without writing.
"""
