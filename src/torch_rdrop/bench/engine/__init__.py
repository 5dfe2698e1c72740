"""The Optuna engine: grids and sweeps of runs on a store, knowing no task.

- :mod:`~torch_rdrop.bench.engine.spec` — plain data: a run (:class:`TrialSpec`), its result
  (:class:`TrialResult`) and the seam to the training code (:class:`TrialBackend`);
- :mod:`~torch_rdrop.bench.engine.grid` — the grid of runs a command asks for, point by point;
- :mod:`~torch_rdrop.bench.engine.axes` — the values of a grid's axes, parsed from the command
  line (seeds, K, names, ``--param`` settings);
- :mod:`~torch_rdrop.bench.engine.store` — SQLite / PostgreSQL stores, heartbeats, clear errors;
- :mod:`~torch_rdrop.bench.engine.runner` — a grid as a resumable study shared by workers;
- :mod:`~torch_rdrop.bench.engine.sweep` — TPE over a method's search space, median pruning;
- :mod:`~torch_rdrop.bench.engine.status` — where a store's studies stand, read without writing.
"""
