"""Maximum-likelihood training of a flow, under the course's training contract (``gm_helpers.train``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn

from gm_helpers.train import History, infinite_batches, prepare, seeded, train_loop

__all__ = ["evaluate_nll", "train_flow"]

Preprocess = Callable[[Tensor], tuple[Tensor, Tensor]]


def _nll(flow: nn.Module, x: Tensor, context: Tensor | None, preprocess: Preprocess | None) -> Tensor:
    if preprocess is None:
        return -flow.log_prob(x, context)
    y, logdet = preprocess(x)
    return -(flow.log_prob(y, context) + logdet)


def _hidden_trainables(fn: Callable) -> list[str]:
    """Names of trainable modules a plain function reaches through its closure, defaults or globals."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = {}
    closure = inspect.getclosurevars(fn)
    for name, value in {**closure.nonlocals, **closure.globals}.items():
        found[name] = value
    for i, value in enumerate(fn.__defaults__ or ()):
        found[f"default {i}"] = value
    return [
        name
        for name, value in found.items()
        if isinstance(value, nn.Module) and any(p.requires_grad for p in value.parameters())
    ]


def _preprocess_modules(preprocess) -> list[nn.Module]:
    if preprocess is None:
        return []
    if isinstance(preprocess, nn.Module):
        return [preprocess]
    hidden = _hidden_trainables(preprocess)
    if hidden:
        raise ValueError(
            f"preprocess uses the trainable module(s) {', '.join(hidden)} inside a function: their "
            "parameters would never be trained, nor rolled back to the best state. Pass a module "
            "instead, e.g. preprocess=gm.data.Dequantize(K, variational=...)."
        )
    return []


def train_flow(
    flow: nn.Module,
    data: Tensor,
    *,
    context: Tensor | None = None,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "flow",
    val_data: Tensor | None = None,
    val_context: Tensor | None = None,
    eval_every: int = 0,
    patience: int | None = None,
    snapshot: Callable[[nn.Module], object] | None = None,
    cosine: bool = True,
    clip: float = 5.0,
    preprocess: Preprocess | None = None,
) -> History:
    """Fit ``flow`` by maximum likelihood: minimize the NLL -E[log p(x | c)] with Adam.

    The course's training contract (``gm_helpers.train``); what flows add:

    Arguments:
        flow: a ``Flow``, or any module with ``log_prob(x, context)`` (a physics model's flows).
        cosine: decay the learning rate to 0 over ``steps`` (cosine schedule).
        clip: the gradient-norm clip (0: none).
        preprocess: maps a batch x to (y, logdet) with log p(x) = log p_flow(y) + logdet, e.g.
            dequantization: ``gm.data.Dequantize(K)``. A module's parameters are trained with
            the flow's and rolled back with them; a plain function that hides a trainable module
            is refused (its parameters would silently stay untrained).

    Returns:
        A ``History``: ``nll`` per step and, with ``val_data``, ``val_nll`` per evaluation (mean nats
        per sample). With ``val_data`` the flow (and a module ``preprocess``) end with the state of
        the best ``val_nll``.
    """
    extra = _preprocess_modules(preprocess)
    modules = [flow, *extra]
    device = prepare(modules, data, context, device, val_data, val_context)
    parameters = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    batches = infinite_batches(data, context, batch_size=min(batch_size, len(data)), seed=seed, device=device)

    def step(i: int) -> dict[str, Tensor]:
        x, c = next(batches)
        loss = _nll(flow, x, c, preprocess).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"nll": loss}

    def validate() -> dict[str, float]:
        return {"val_nll": evaluate_nll(flow, val_data, val_context, preprocess=preprocess, seed=seed)}

    with seeded(seed, device):
        history = train_loop(
            step,
            steps,
            desc=desc,
            progress=progress,
            modules=modules,
            validate=validate if val_data is not None else None,
            snapshot=None if snapshot is None else lambda: snapshot(flow),
            eval_every=eval_every,
            monitor="val_nll" if val_data is not None else None,
            patience=patience,
            hint="a learning rate that is too high, or data far outside the spline's tail bound",
        )
    for m in modules:
        m.eval()
    return history


@torch.no_grad()
def evaluate_nll(
    flow: nn.Module,
    data: Tensor,
    context: Tensor | None = None,
    *,
    batch_size: int = 4096,
    preprocess: Preprocess | None = None,
    seed: int = 0,
) -> float:
    """Mean negative log-likelihood -E[log p(x | c)] (nats per sample) over ``data``, in batches.

    The data follow the flow to its device. A random ``preprocess`` (dequantization noise) draws
    its noise under ``seed``, so the same model always gets the same figure.
    """
    device = next(flow.parameters()).device
    total = 0.0
    with seeded(seed, device):
        for start in range(0, len(data), batch_size):
            x = data[start : start + batch_size].to(device)
            c = None if context is None else context[start : start + batch_size].to(device)
            total += float(_nll(flow, x, c, preprocess).sum())
    return total / len(data)
