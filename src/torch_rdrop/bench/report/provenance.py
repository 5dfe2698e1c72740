"""What a group's runs started from, and whether they all started from the same point.

Each run stores its data package's version and its pretrained weights' fingerprint
(:mod:`torch_rdrop.bench.tasks.provenance`). :func:`started_from` counts them over a group's
runs; :func:`provenance_line` says it in one sentence of the report, loudly when the runs of one
group did not all start from the same weights or data (their paired differences would then mix
the methods' effect with the change of weights):

>>> provenance_line({"weights": {"sha256:aa": 4}}, 4)
'Started from: weights `sha256:aa` (every run).'
>>> provenance_line({"weights": {"sha256:aa": 3, "sha256:bb": 1}}, 5)
'**Not one starting point**: weights `sha256:aa` (3 runs), `sha256:bb` (1 run); 1 of the 5 runs \
did not record the weights. Differences between these runs mix the methods with that change.'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from torch_rdrop.bench.engine.runner import RunRecord

__all__ = ["PROVENANCE_KEYS", "provenance_line", "started_from"]

#: The entries of a run's ``versions`` that name what it started from, in the order shown.
PROVENANCE_KEYS = ("data", "weights")


def started_from(runs: Iterable[RunRecord]) -> dict[str, dict[str, int]]:
    """For each of :data:`PROVENANCE_KEYS` some run recorded: each value and how many runs."""
    counts: dict[str, Counter[str]] = {}
    for run in runs:
        for key in PROVENANCE_KEYS:
            value = run.result.versions.get(key)
            if value is not None:
                counts.setdefault(key, Counter())[value] += 1
    return {key: dict(counts[key].most_common()) for key in PROVENANCE_KEYS if key in counts}


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def provenance_line(counts: Mapping[str, Mapping[str, int]], total: int) -> str | None:
    """One sentence on ``counts`` (from :func:`started_from`) over a group of ``total`` runs;
    None when no run recorded anything."""
    if not counts:
        return None
    mixed = any(len(values) > 1 for values in counts.values())
    parts, gaps = [], []
    for key, values in counts.items():
        if mixed:
            parts.append(f"{key} " + ", ".join(f"`{v}` ({_runs(n)})" for v, n in values.items()))
        else:
            parts.append(f"{key} `{next(iter(values))}`")
        missing = total - sum(values.values())
        if missing:
            gaps.append(f"{missing} of the {total} runs did not record the {key}")
    if not mixed:
        return f"Started from: {', '.join(parts)} ({'; '.join(gaps) or 'every run'})."
    return (
        f"**Not one starting point**: {', '.join(parts)}"
        + "".join(f"; {gap}" for gap in gaps)
        + ". Differences between these runs mix the methods with that change."
    )
