"""Training flow-matching and diffusion models under the course's training contract (``gm_helpers.train``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gm_helpers.train import History, infinite_batches, prepare, seeded, train_loop

__all__ = ["evaluate_loss", "train_diffusion"]


def _check_model(model) -> None:
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise ValueError(
            "model must be a FlowMatching or a DDPM (a module with loss(x, context)), "
            f"got {type(model).__name__}"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            "this model has no trainable parameters: build it on a VectorField, not a fixed function"
        )


def train_diffusion(
    model: nn.Module,
    data: Tensor,
    *,
    context: Tensor | None = None,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    val_data: Tensor | None = None,
    val_context: Tensor | None = None,
    eval_every: int = 0,
    patience: int | None = None,
    snapshot: Callable[[nn.Module], object] | None = None,
    cond_dropout: float | None = None,
    clip: float = 1.0,
    cosine: bool = True,
) -> History:
    r"""Fit a ``FlowMatching`` or ``DDPM`` model with Adam: minimize its ``loss(x, context)``.

    The course's training contract (``gm_helpers.train``); what these models add:

    Arguments:
        model: a ``FlowMatching`` (the CFM loss) or ``DDPM`` (the simple noise-prediction loss), or
            any module with ``loss(x, context)``.
        cond_dropout: the probability that a training label is replaced by the null class, so that
            the network also learns the unconditional model that classifier-free guidance needs
            (Ho and Salimans, arXiv:2207.12598). Default: 0.1 for a class-conditional model, 0 for
            the others; a value > 0 for a model without a null class is refused.
        clip: the gradient-norm clip (0: none).
        cosine: decay the learning rate to 0 over ``steps`` (cosine schedule).

    Returns:
        A ``History``: ``loss`` per step (the mean squared error per coordinate) and, with
        ``val_data``, ``val_loss`` per evaluation (:func:`evaluate_loss`, with the same noise at every
        evaluation, and no label dropout). With ``val_data`` the model ends with the state of the
        best ``val_loss``.
    """
    _check_model(model)
    null = getattr(model, "null_class", None)
    if cond_dropout is None:
        cond_dropout = 0.1 if null is not None else 0.0
    if not isinstance(cond_dropout, int | float) or not 0 <= cond_dropout < 1:
        raise ValueError(f"cond_dropout must be a probability in [0, 1), got {cond_dropout!r}")
    if cond_dropout and null is None:
        raise ValueError(
            "cond_dropout replaces labels by the null class, and this model has none: build its "
            "network with VectorField(..., n_classes=n), or leave cond_dropout=None"
        )
    if clip < 0:
        raise ValueError(f"clip must be >= 0 (0: no clipping), got {clip}")
    device = prepare(model, data, context, device, val_data, val_context)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    batches = infinite_batches(data, context, batch_size=min(batch_size, len(data)), seed=seed, device=device)

    def step(i: int) -> dict[str, Tensor]:
        x, c = next(batches)
        if cond_dropout:
            dropped = torch.rand(len(c), device=c.device) < cond_dropout
            c = torch.where(dropped, torch.full_like(c, null), c)
        loss = model.loss(x, c)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"loss": loss}

    def validate() -> dict[str, float]:
        return {"val_loss": evaluate_loss(model, val_data, val_context, seed=seed)}

    with seeded(seed, device):
        history = train_loop(
            step,
            steps,
            desc=desc or type(model).__name__,
            progress=progress,
            modules=[model],
            validate=validate if val_data is not None else None,
            snapshot=None if snapshot is None else lambda: snapshot(model),
            eval_every=eval_every,
            monitor="val_loss" if val_data is not None else None,
            patience=patience,
            hint="a learning rate that is too high, or data far from unit scale (standardize it first)",
        )
    model.eval()
    return history


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, data: Tensor, context: Tensor | None = None, *, batch_size: int = 4096, seed: int = 0
) -> float:
    """The mean of ``model.loss`` over ``data`` (per coordinate), in batches, on the model's device.

    The loss is random (times and noise); they are drawn under ``seed``, so the same model always gets
    the same figure and two states of a model are compared on the same noise.
    """
    _check_model(model)
    device = next(model.parameters()).device
    total = 0.0
    with seeded(seed, device):
        for start in range(0, len(data), batch_size):
            x = data[start : start + batch_size].to(device)
            c = None if context is None else context[start : start + batch_size].to(device)
            total += float(model.loss(x, c)) * len(x)
    return total / len(data)
