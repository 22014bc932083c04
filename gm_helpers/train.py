"""A small, generic training loop: progress bar, loss history and a guard against NaN losses.

Every model family of the course writes its own ``step`` function (the part the lecture teaches)
and hands it to ``train_loop``, which does the bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import torch
from tqdm.auto import tqdm

__all__ = ["NonFiniteLossError", "infinite_batches", "train_loop"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite during training."""


def _as_float(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def train_loop(
    step: Callable[[int], Mapping[str, float | torch.Tensor]],
    n_steps: int,
    *,
    desc: str = "training",
    progress: bool = True,
    callback: Callable[[int, dict[str, list[float]]], bool | None] | None = None,
    callback_every: int = 0,
    hint: str = "a learning rate that is too high, or a log/division of a value that reached 0",
) -> dict[str, list[float]]:
    """Call ``step(i)`` for i = 0 .. n_steps - 1 and collect the losses it returns.

    Arguments:
        step: does one optimization step and returns its losses as a mapping name -> scalar.
        n_steps: number of steps.
        desc: label of the progress bar.
        progress: show a tqdm progress bar (in a notebook, a widget).
        callback: called as ``callback(i, history)`` every ``callback_every`` steps and after the
            last one (e.g. to keep sample snapshots); returning True ends training early
            (e.g. early stopping on a validation loss).
        hint: the likely cause quoted when a loss turns NaN or infinite.

    Returns:
        The history: a dict name -> list of the loss values, one per step.

    Raises:
        NonFiniteLossError: naming the loss and the step, as soon as a loss is NaN or infinite.
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    history: dict[str, list[float]] = {}
    bar = tqdm(range(n_steps), desc=desc, disable=not progress, leave=True)
    postfix_every = max(1, n_steps // 100)
    for i in bar:
        losses = {name: _as_float(value) for name, value in step(i).items()}
        for name, value in losses.items():
            if not math.isfinite(value):
                bar.close()
                raise NonFiniteLossError(
                    f"loss '{name}' became {value} at step {i} of {n_steps}; likely cause: {hint}."
                )
            history.setdefault(name, []).append(value)
        if i % postfix_every == 0:
            bar.set_postfix({name: f"{value:.4g}" for name, value in losses.items()})
        due = i == n_steps - 1 or (callback_every and i % callback_every == 0)
        if callback is not None and due and callback(i, history):
            break
    bar.close()
    return history


def infinite_batches(
    *tensors: torch.Tensor,
    batch_size: int,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless shuffled mini-batches of ``tensors`` (all with the same first dimension).

    Each pass over the data is a fresh permutation drawn from a generator seeded by ``seed``;
    batches are moved to ``device`` when one is given.
    """
    if not tensors:
        raise ValueError("give at least one tensor")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be between 1 and the data size {n}, got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield tuple(t[index].to(device) if device is not None else t[index] for t in tensors)
