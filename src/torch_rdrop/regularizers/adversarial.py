"""Adversarial training on the input embeddings: FGM, PGD and FreeLB.

The perturbation ``delta`` is added to the *output* of the input embedding module by a forward
hook (found through ``get_input_embeddings()`` or the first ``nn.Embedding``, or named by
``embedding``), or, for models without embeddings (``site="inputs"``, or ``"auto"`` when no
embedding exists), to the first floating model input (images, features). The embedding weights are
never written, so they are bit-exactly the same after the step — the "back up, attack, restore"
of the weight-perturbing implementations holds by construction, without their pitfalls
(attack directions read from ``.grad`` that already holds earlier micro-batches' gradients, tied
input / output embeddings, in-place writes under DDP).

Norms and epsilon balls are per example: the L2 norm of an example's whole perturbation (all its
tokens and embedding dimensions), as in Miyato et al. (2017), Madry et al. (2018) and FreeLB. A
mapping batch's ``attention_mask`` zeroes the perturbation at padding.

Gradients and the caller's backward (one ``loss.backward()``, see :mod:`.base`):

- FGM (Miyato et al., 2017): ``r = epsilon * g / ||g||`` with ``g`` the gradient of the clean loss
  with respect to the embeddings; ``loss = L(x) + L(x + r)``, ``r`` constant. One backward
  accumulates ``grad L(x) + grad L(x + r)`` — the clean backward, attack, adversarial backward,
  restore sequence of the reference implementation.
- PGD (Madry et al., 2018; the K-step embedding variant): ``r_{t+1} = Proj_eps(r_t + step_size *
  g_t / ||g_t||)`` from ``r_0 = 0`` for ``steps`` steps; ``loss = L(x) + L(x + r_K)``.
- FreeLB (Zhu et al., 2020): ``delta_0`` uniform in [-1, 1] times
  ``init_magnitude / sqrt(length * dim)`` (zero at padding); for ``t < K`` ascend
  ``delta_{t+1} = Proj(delta_t + step_size * g_t / ||g_t||)``; ``loss = (1 / K) * sum_t
  L(x + delta_t)``, so one backward accumulates the average of the K gradients. The K graphs are
  kept until that backward (K times the activation memory of one pass).

Attack gradients come from ``torch.autograd.grad`` on the perturbation alone, so they do not
depend on gradients already accumulated in ``.grad`` and leave them untouched.

Composition: ``inner`` is the objective the adversary evaluates (default: the plain task loss).
With ``inner=RDropRegularizer(...)`` every evaluation is the R-Drop loss, so ``rdrop+fgm`` gives
``loss = [task + alpha * consistency](x) + R-Drop loss(x + r)``, both terms added.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from torch_rdrop.regularizers._sites import (
    attention_mask_of,
    find_embedding,
    has_batch_input,
    per_example_norm,
    replace_floating_inputs,
    rewrite_output,
)
from torch_rdrop.regularizers.base import (
    Batch,
    LogitsFn,
    Regularizer,
    RegularizerOutput,
    TaskLoss,
    split_target,
)
from torch_rdrop.regularizers.baseline import NoRegularization

__all__ = ["FGM", "PGD", "FGMConfig", "FreeLB", "FreeLBConfig", "PGDConfig", "Site"]

Site = Literal["auto", "embeddings", "inputs"]
SITES = ("auto", "embeddings", "inputs")
Init = Callable[[Tensor, "Tensor | None"], Tensor]
Objective = Callable[[Batch], RegularizerOutput]
TINY = 1e-12


def _check_site(site: str, embedding: str | None) -> None:
    if site not in SITES:
        raise ValueError(f"site must be one of {SITES}, got {site!r}")
    if embedding is not None and (not isinstance(embedding, str) or not embedding):
        raise ValueError(f"embedding must be None or a module name, got {embedding!r}")


def _check_nonnegative(name: str, value: float) -> None:
    if isinstance(value, bool) or not (float(value) >= 0 and math.isfinite(float(value))):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not (float(value) > 0 and math.isfinite(float(value))):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")


@dataclass(frozen=True)
class FGMConfig:
    """FGM: one step of size ``epsilon`` along the normalised gradient (Miyato et al., 2017).

    ``epsilon`` 1.0 on the word embeddings, as in the common BERT fine-tuning setting.
    """

    epsilon: float = 1.0
    site: Site = "auto"
    embedding: str | None = None

    def __post_init__(self) -> None:
        _check_nonnegative("epsilon", self.epsilon)
        _check_site(self.site, self.embedding)


@dataclass(frozen=True)
class PGDConfig:
    """PGD (Madry et al., 2018) on the embeddings: ``steps`` 3, ``step_size`` 0.3, ``epsilon`` 1."""

    epsilon: float = 1.0
    step_size: float = 0.3
    steps: int = 3
    site: Site = "auto"
    embedding: str | None = None

    def __post_init__(self) -> None:
        _check_nonnegative("epsilon", self.epsilon)
        _check_positive("step_size", self.step_size)
        _check_steps(self.steps)
        _check_site(self.site, self.embedding)


@dataclass(frozen=True)
class FreeLBConfig:
    """FreeLB (Zhu et al., 2020): ``steps`` K = 2, adversarial ``step_size`` 0.1,
    ``init_magnitude`` 0.6; ``epsilon`` (the maximum norm) None = unbounded, FreeLB's
    ``adv_max_norm = 0``."""

    steps: int = 2
    step_size: float = 0.1
    init_magnitude: float = 0.6
    epsilon: float | None = None
    site: Site = "auto"
    embedding: str | None = None

    def __post_init__(self) -> None:
        _check_steps(self.steps)
        _check_positive("step_size", self.step_size)
        _check_nonnegative("init_magnitude", self.init_magnitude)
        if self.epsilon is not None:
            _check_nonnegative("epsilon", self.epsilon)
        _check_site(self.site, self.embedding)


def unit(g: Tensor) -> Tensor:
    """``g`` divided by each example's L2 norm (0 where the norm is 0).

    >>> unit(torch.tensor([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    return (g.float() / per_example_norm(g).clamp_min(TINY)).to(g.dtype)


def project(delta: Tensor, epsilon: float) -> Tensor:
    """``delta`` scaled back into the per-example L2 ball of radius ``epsilon``.

    >>> project(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.30000001192092896, 0.4000000059604645]]
    """
    scale = (epsilon / per_example_norm(delta).clamp_min(TINY)).clamp(max=1.0)
    return (delta.float() * scale).to(delta.dtype)


def zeros(reference: Tensor, mask: Tensor | None) -> Tensor:
    """A zero perturbation of ``reference``'s shape that records its gradient."""
    return torch.zeros_like(reference, requires_grad=True)


class Perturbation:
    """Where and how a perturbation enters one model call (embedding output or floating input).

    ``run(objective, delta, init)`` evaluates the objective with ``delta`` added; with ``delta``
    None it is created by ``init(reference, mask)`` from the tensor it is added to.
    """

    def __init__(self, model: nn.Module, batch: Batch, site: Site, embedding: str | None) -> None:
        self.batch = batch
        self.embedding: nn.Module | None = None
        if site in ("auto", "embeddings"):
            self.embedding = find_embedding(model, embedding)
            if self.embedding is None and site == "embeddings":
                raise ValueError(
                    f"site='embeddings' needs an input embedding module, and "
                    f"{type(model).__name__} has none (no get_input_embeddings(), no nn.Embedding):"
                    " pass embedding=<module name>, or site='inputs' for floating inputs"
                )
        if self.embedding is None and not has_batch_input(batch):
            raise ValueError(
                f"found no input embedding module in {type(model).__name__} and no floating "
                "input in the batch to perturb: pass embedding=<module name>"
            )
        self.site = "embeddings" if self.embedding is not None else "inputs"
        self.attention_mask = attention_mask_of(batch)

    def mask_for(self, h: Tensor) -> Tensor | None:
        """The padding mask ``[B, T, 1]`` (1 = token) matching the embeddings ``h``, if any."""
        mask = self.attention_mask
        if self.site != "embeddings" or mask is None or h.dim() != 3:
            return None
        if tuple(mask.shape) != tuple(h.shape[:2]):
            return None  # e.g. R-Drop's stacked copies: no padding information for them
        return mask.to(h.dtype).unsqueeze(-1)

    def run(
        self, objective: Objective, delta: Tensor | None, init: Init = zeros
    ) -> tuple[RegularizerOutput, Tensor]:
        """Evaluate ``objective`` on the batch with the perturbation added."""
        state: list[Tensor | None] = [delta]

        def add(h: Tensor) -> Tensor:
            if state[0] is None:
                state[0] = init(h.detach(), self.mask_for(h))
            d = state[0]
            return h + d.to(h.dtype) if d.shape == h.shape else h

        if self.embedding is None:
            result = objective(replace_floating_inputs(self.batch, add, first_only=True))
        else:
            with rewrite_output(self.embedding, add):
                result = objective(self.batch)
        if state[0] is None:
            raise ValueError("the embedding module was not called by the forward pass")
        return result, state[0]

    def direction(self, g: Tensor) -> Tensor:
        """The ascent direction: the gradient, zero at padding, per-example unit norm."""
        mask = self.mask_for(g)
        return unit(g if mask is None else g * mask)


def _grad(loss: Tensor, delta: Tensor, retain_graph: bool) -> Tensor:
    if not loss.requires_grad:
        raise ValueError(
            "the loss does not require grad: adversarial methods need autograd enabled and "
            "trainable embeddings or inputs (not under torch.no_grad())"
        )
    (g,) = torch.autograd.grad(loss, delta, retain_graph=retain_graph)
    return g.detach()


class _Adversarial(Regularizer):
    """Shared plumbing: the inner objective, its step, and the perturbation site."""

    method = ""

    def __init__(self, config: Any, inner: Regularizer | None, logits_fn: LogitsFn | None) -> None:
        super().__init__(logits_fn)
        self.config = config
        self.inner = inner if inner is not None else NoRegularization(logits_fn=logits_fn)
        inner_name = self.inner.name
        self.name = self.method if inner_name == "none" else f"{inner_name}+{self.method}"

    def set_step(self, step: int) -> None:
        super().set_step(step)
        self.inner.set_step(step)

    def _setup(
        self, model: nn.Module, batch: Batch, target: Tensor | None, task_loss: TaskLoss | None
    ) -> tuple[Perturbation, Objective, Callable[[], None]]:
        batch, target = split_target(batch, target)
        perturbation = Perturbation(model, batch, self.config.site, self.config.embedding)
        start = self.inner.step

        def objective(b: Batch) -> RegularizerOutput:
            self.inner.set_step(start)  # every evaluation of one step sees the same step
            return self.inner.training_loss(model, b, target, task_loss)

        def finish() -> None:
            self.inner.set_step(start + 1)
            self.step += 1

        return perturbation, objective, finish

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r}, inner={self.inner!r})"


class FGM(_Adversarial):
    """Fast gradient method on the embeddings: ``loss = L(x) + L(x + epsilon * g / ||g||)``.

    Parts: the inner method's parts (``"task"``, plus ``"consistency"`` with R-Drop) and
    ``"adversarial"``. Details: ``"perturbation"`` and ``"gradient"``.

    >>> emb = nn.Embedding(20, 8)
    >>> net = nn.Sequential(emb, nn.Flatten(), nn.Linear(8 * 5, 2))
    >>> out = FGM().training_loss(net, torch.randint(0, 20, (4, 5)), torch.tensor([0, 1, 0, 1]))
    >>> norms = out.details["perturbation"].flatten(1).norm(dim=1)
    >>> sorted(out.parts), [round(n, 4) for n in norms.tolist()]
    (['adversarial', 'task'], [1.0, 1.0, 1.0, 1.0])
    """

    method = "fgm"

    def __init__(
        self,
        config: FGMConfig | None = None,
        *,
        inner: Regularizer | None = None,
        logits_fn: LogitsFn | None = None,
    ) -> None:
        super().__init__(config or FGMConfig(), inner, logits_fn)

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        perturbation, objective, finish = self._setup(model, batch, target, task_loss)
        clean, delta = perturbation.run(objective, None)
        g = _grad(clean.loss, delta, retain_graph=True)
        r = self.config.epsilon * perturbation.direction(g)
        adversarial, _ = perturbation.run(objective, r)
        finish()
        parts = {**clean.parts, "adversarial": adversarial.loss.detach()}
        details = {"perturbation": r, "gradient": g, "site": perturbation.site}
        return RegularizerOutput(clean.loss + adversarial.loss, parts, clean.output, details)


class PGD(_Adversarial):
    """Projected gradient ascent on the embeddings: ``loss = L(x) + L(x + r_K)``, ``||r|| <= eps``.

    Details: ``"perturbations"``, the iterates ``r_1 .. r_K`` (the last one is trained on).

    >>> emb = nn.Embedding(20, 8)
    >>> net = nn.Sequential(emb, nn.Flatten(), nn.Linear(8 * 5, 2))
    >>> out = PGD(PGDConfig(step_size=0.8)).training_loss(
    ...     net, torch.randint(0, 20, (4, 5)), torch.tensor([0, 1, 0, 1]))
    >>> last = out.details["perturbations"][-1]
    >>> len(out.details["perturbations"]), bool(last.flatten(1).norm(dim=1).max() <= 1 + 1e-6)
    (3, True)
    """

    method = "pgd"

    def __init__(
        self,
        config: PGDConfig | None = None,
        *,
        inner: Regularizer | None = None,
        logits_fn: LogitsFn | None = None,
    ) -> None:
        super().__init__(config or PGDConfig(), inner, logits_fn)

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        c = self.config
        perturbation, objective, finish = self._setup(model, batch, target, task_loss)
        clean, delta = perturbation.run(objective, None)
        current, r = clean, torch.zeros_like(delta)
        iterates: list[Tensor] = []
        for step in range(c.steps):
            # the clean graph must survive for the caller's backward; the others are spent
            g = _grad(current.loss, delta, retain_graph=step == 0)
            r = project(r + c.step_size * perturbation.direction(g), c.epsilon).detach()
            iterates.append(r)
            if step < c.steps - 1:
                current, delta = perturbation.run(objective, r.clone().requires_grad_(True))
        adversarial, _ = perturbation.run(objective, r)
        finish()
        parts = {**clean.parts, "adversarial": adversarial.loss.detach()}
        details = {"perturbations": iterates, "site": perturbation.site}
        return RegularizerOutput(clean.loss + adversarial.loss, parts, clean.output, details)


class FreeLB(_Adversarial):
    """FreeLB: the average loss over ``K`` ascent steps from a random start.

    Parts: ``"adversarial"`` (the average). Details: ``"perturbations"``, ``delta_0 .. delta_{K-1}``
    (each one trained on), and ``"losses"``, the loss at each.

    >>> emb = nn.Embedding(20, 8)
    >>> net = nn.Sequential(emb, nn.Flatten(), nn.Linear(8 * 5, 2))
    >>> out = FreeLB().training_loss(net, torch.randint(0, 20, (4, 5)), torch.tensor([0, 1, 0, 1]))
    >>> mean = torch.stack(out.details["losses"]).mean()
    >>> len(out.details["perturbations"]), bool(torch.isclose(out.loss, mean))
    (2, True)
    """

    method = "freelb"

    def __init__(
        self,
        config: FreeLBConfig | None = None,
        *,
        inner: Regularizer | None = None,
        logits_fn: LogitsFn | None = None,
    ) -> None:
        super().__init__(config or FreeLBConfig(), inner, logits_fn)

    def init(self, reference: Tensor, mask: Tensor | None) -> Tensor:
        """FreeLB's start: uniform in [-1, 1], zero at padding, times ``init_magnitude /
        sqrt(length * dim)`` of each example (length = its number of tokens)."""
        magnitude = self.config.init_magnitude
        if magnitude == 0:
            return zeros(reference, mask)
        delta = torch.empty_like(reference).uniform_(-1.0, 1.0)
        if mask is not None:
            delta = delta * mask
            sizes = mask.flatten(1).sum(1) * reference.shape[-1]
        else:
            sizes = torch.full((reference.shape[0],), reference[0].numel(), dtype=delta.dtype)
        scale = magnitude / sizes.clamp_min(1).sqrt()
        delta = delta * scale.view(-1, *([1] * (reference.dim() - 1))).to(delta)
        return delta.detach().requires_grad_(True)

    def training_loss(
        self,
        model: nn.Module,
        batch: Batch,
        target: Tensor | None = None,
        task_loss: TaskLoss | None = None,
    ) -> RegularizerOutput:
        c = self.config
        perturbation, objective, finish = self._setup(model, batch, target, task_loss)
        delta: Tensor | None = None
        losses: list[Tensor] = []
        used: list[Tensor] = []
        first: RegularizerOutput | None = None
        for step in range(c.steps):
            result, current = perturbation.run(objective, delta, self.init)
            first = first or result
            losses.append(result.loss)
            used.append(current.detach())
            if step < c.steps - 1:
                g = _grad(result.loss, current, retain_graph=True)
                nxt = current.detach() + c.step_size * perturbation.direction(g)
                if c.epsilon is not None:
                    nxt = project(nxt, c.epsilon)
                delta = nxt.requires_grad_(True)
        finish()
        loss = torch.stack(losses).mean()
        details = {"perturbations": used, "losses": [x.detach() for x in losses]}
        details["site"] = perturbation.site
        output = first.output if first is not None else None
        return RegularizerOutput(loss, {"adversarial": loss.detach()}, output, details)
