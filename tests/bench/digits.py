"""A small, real trial backend for the engine's tests: a dropout MLP on scikit-learn's digits.

It runs in about a second, so the engine, the store, the report and the CLI can be exercised end
to end on real training (``--backend bench.digits:BACKEND``; ``tests`` is on the test path).
Methods: ``none``, ``rdrop``, ``mixup``, ``fgm`` and ``rdrop+fgm``, built by the library
(:func:`torch_rdrop.regularizers.build_regularizer`). Hyper-parameters (``spec.params``):
``epochs`` (15), ``lr`` (3e-3), ``dropout`` (0.3), ``hidden`` (128); the rest go to the method
(``alpha``: R-Drop weight 1.0, MixUp's Beta parameter 0.4; ``epsilon``: FGM step 1.0).

>>> result = run_digits(TrialSpec("digits", "rdrop", 4, 0, 0, {"epochs": 2}))
>>> result.metric, len(result.curves["accuracy"]), 0.0 <= result.value <= 1.0
('accuracy', 2, True)
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor, nn

import torch_rdrop
from torch_rdrop.bench.engine.axes import Scalar
from torch_rdrop.bench.engine.spec import (
    EpochCallback,
    FloatRange,
    TrialBackend,
    TrialResult,
    TrialSpec,
)
from torch_rdrop.bench.tasks.methods import get_method
from torch_rdrop.regularizers import Regularizer, build_regularizer

__all__ = ["BACKEND", "run_digits"]

_METHODS = ("none", "rdrop", "mixup", "fgm", "rdrop+fgm")
_TEST_SIZE = 597
_DEV_PER_CLASS = 5
_DEFAULTS: Mapping[str, Scalar] = {"epochs": 15, "lr": 3e-3, "dropout": 0.3, "hidden": 128}
_METHOD_DEFAULTS: Mapping[str, Mapping[str, Scalar]] = {
    "rdrop": {"alpha": 1.0},
    "mixup": {"alpha": 0.4},
    "fgm": {"epsilon": 1.0},
    "rdrop+fgm": {"alpha": 1.0, "epsilon": 1.0},
}


@lru_cache(maxsize=1)
def _digits() -> tuple[Tensor, Tensor]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits backend needs scikit-learn: pip install 'torch-rdrop[bench]'"
        ) from exc
    data = load_digits()
    return torch.tensor(data.data, dtype=torch.float32) / 16.0, torch.tensor(data.target)


def _split(spec: TrialSpec) -> tuple[Tensor, Tensor, Tensor]:
    """Train, dev and evaluation indices: a fixed test split, K per class drawn by the data seed."""
    _, y = _digits()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(12345))
    test, pool = order[:_TEST_SIZE], order[_TEST_SIZE:]
    gen = torch.Generator().manual_seed(spec.data_seed)
    train, dev = [], []
    for c in range(10):
        members = pool[y[pool] == c]
        members = members[torch.randperm(len(members), generator=gen)]
        reserve = _DEV_PER_CLASS if spec.use_dev else 0
        available = len(members) - reserve
        k = available if spec.shots is None else spec.shots
        if k > available:
            raise ValueError(
                f"shots={spec.shots} is more than class {c} of digits has for training "
                f"({available} examples); choose K <= {available}"
            )
        dev.append(members[:reserve])
        train.append(members[reserve : reserve + k])
    held_out = torch.cat(dev) if spec.use_dev else test
    return torch.cat(train), held_out, test


def _params(spec: TrialSpec) -> dict[str, Any]:
    params = {**_DEFAULTS, **_METHOD_DEFAULTS.get(spec.method, {}), **spec.params}
    for name in ("epochs", "hidden"):
        if not isinstance(params[name], int) or params[name] < 1:
            raise ValueError(f"param {name} must be an integer >= 1, got {params[name]!r}")
    if not 0.0 <= float(params["dropout"]) < 1.0:
        raise ValueError(f"param dropout must lie in [0, 1), got {params['dropout']!r}")
    return params


def _method(spec: TrialSpec, p: dict[str, Any]) -> Regularizer:
    """The library's regularizer for ``spec.method`` with the method's own parameters."""
    own = {k: v for k, v in p.items() if k not in _DEFAULTS}
    return build_regularizer(spec.method, **own)


def _peak_memory_mb() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run_digits(spec: TrialSpec, on_epoch: EpochCallback | None = None) -> TrialResult:
    """Train the MLP as ``spec`` says; accuracy per epoch on dev (``use_dev``) or test.

    The model is tiny, so it trains on one CPU thread (faster than several, and fair to other
    processes); the caller's thread count is restored afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(spec, on_epoch)
    finally:
        torch.set_num_threads(threads)


def _train(spec: TrialSpec, on_epoch: EpochCallback | None) -> TrialResult:
    if spec.task != "digits":
        raise ValueError(f"task: the digits backend runs only 'digits', got {spec.task!r}")
    if spec.method not in _METHODS:
        raise ValueError(
            f"method: the digits backend runs {', '.join(_METHODS)}, got {spec.method!r}"
        )
    p = _params(spec)
    x, y = _digits()
    train, held_out, test = _split(spec)
    torch.manual_seed(spec.init_seed)
    model = nn.Sequential(
        nn.Linear(64, p["hidden"]),
        nn.ReLU(),
        nn.Dropout(float(p["dropout"])),
        nn.Linear(p["hidden"], 10),
    )
    method = _method(spec, p)
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(p["lr"]), weight_decay=1e-2)
    curves: dict[str, list[float]] = {"accuracy": [], "train_loss": []}
    start = time.perf_counter()
    for epoch in range(p["epochs"]):
        model.train()
        total = 0.0
        batches = train[torch.randperm(len(train))].split(32)
        for batch in batches:
            loss = method.training_loss(model, x[batch], y[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x[held_out]).argmax(-1) == y[held_out]).float().mean())
        curves["accuracy"].append(accuracy)
        curves["train_loss"].append(total / len(batches))
        if on_epoch is not None:
            on_epoch(
                epoch, accuracy, {"accuracy": accuracy, "train_loss": curves["train_loss"][-1]}
            )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        test_accuracy = float((model(x[test]).argmax(-1) == y[test]).float().mean())
    metrics = {"accuracy": curves["accuracy"][-1], "test_accuracy": test_accuracy}
    versions = {
        "torch_rdrop": torch_rdrop.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    return TrialResult("accuracy", metrics, curves, seconds, _peak_memory_mb(), versions)


def _task_rows() -> list[dict[str, Any]]:
    _, y = _digits()
    return [
        {
            "task": "digits",
            "kind": "image classification (8x8)",
            "source": "scikit-learn (load_digits, UCI)",
            "size": len(y),
            "classes": 10,
            "licence": "CC BY 4.0",
            "metric": "accuracy",
        }
    ]


def _search_space(method: str) -> tuple[FloatRange, ...]:
    return get_method(method).search_space  # the benchmark's method registry


BACKEND = TrialBackend(
    "digits", ("digits",), _METHODS, run_digits, _task_rows, search_space=_search_space
)
"""The digits backend: the engine's tests run it."""
