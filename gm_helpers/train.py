"""The training contract: one set of keywords, one seeding rule, one history, for every model.

Every trainer of the course, ``gm.gan.train_gan``, ``gm.vae.train_vae``, ``gm.flows.train_flow`` and
the ``fit`` method of the physics models (``gm.calorimeter.CaloWGAN.fit``, ...), is called as

    history = trainer(model, data, *, context=None, steps=..., batch_size=..., lr=...,
                      device=None, seed=0, progress=True, desc=None,
                      val_data=None, val_context=None, eval_every=0, patience=None,
                      snapshot=None, **what the family adds)

- ``data`` (N, ...) and ``context`` (N, ...) are aligned: the condition of each sample (a vector or
  a class label); mini-batches of ``batch_size`` are drawn from them, a fresh permutation each pass.
- ``steps`` counts optimizer steps (for a GAN: generator steps). ``lr`` is the learning rate.
- ``device`` (default :func:`gm_helpers.get_device`): the model and every batch go there.
- ``seed``: the run (batches, noise, dropout) depends on the seed and nothing else, whatever the
  caller's random state, and the caller's random state is left as it was (:func:`seeded`).
- ``progress``: a tqdm progress bar labelled ``desc``.
- Every ``eval_every`` steps and after the last step: the validation loss on ``val_data`` is
  computed (key ``"val_" + loss name``), and ``snapshot(model)`` is recorded when given.
- With ``val_data``: training ends with the state of the best validation loss, for *every* module
  that was trained (a flow and its dequantizer, say); ``patience`` evaluations without progress
  stop it early.
- A loss that turns NaN or infinite stops training with :class:`NonFiniteLossError` naming the
  loss, the step and a likely cause.

The result is a :class:`History`: the losses of every step, the evaluations and the snapshots, all
numbered by the step count after which they were taken (1 .. steps), so they plot on one axis.
Families whose trainer cannot offer an option (a GAN has no validation likelihood) say so with a
clear error. ``train_loop`` below is the loop they all share: a family writes one ``step``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["History", "NonFiniteLossError", "infinite_batches", "seeded", "train_loop"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite during training."""


class History(dict):
    """What every trainer returns: a dict name -> list of values, with their step numbers.

    ``history["nll"]`` is the list of values; ``history.steps("nll")`` the steps they were taken
    after (1 .. steps for a per-step loss, every ``eval_every`` steps for an evaluation).
    ``snapshots`` is a list of (step, value) pairs; ``best_step`` the step whose state the model
    ended with (None without validation); ``stopped_early`` whether patience ran out; ``seconds``
    the wall-clock time of the training loop (None until it ran).

    Example:
        >>> h = History()
        >>> h.log(1, {"loss": 2.0}); h.log(2, {"loss": 1.0, "val_loss": 1.5})
        >>> h["loss"], h.steps("val_loss")
        ([2.0, 1.0], [2])
    """

    def __init__(self):
        super().__init__()
        self._steps: dict[str, list[int]] = {}
        self.snapshots: list[tuple[int, object]] = []
        self.best_step: int | None = None
        self.stopped_early = False
        self.seconds: float | None = None

    def log(self, step: int, values: Mapping[str, float]) -> None:
        """Record ``values`` (name -> number) as taken after ``step`` steps."""
        for name, value in values.items():
            self.setdefault(name, []).append(float(value))
            self._steps.setdefault(name, []).append(int(step))

    def steps(self, name: str) -> list[int]:
        """The step numbers of ``history[name]``."""
        if name not in self:
            raise KeyError(f"no {name!r} in this history; it has {', '.join(self) or 'nothing'}")
        return list(self._steps[name])

    def last(self, name: str) -> float:
        """The last recorded value of ``name``."""
        return self[name][-1] if name in self else self.steps(name)[-1]  # steps() names what there is

    def plot(self, *names: str, ax=None, smooth: int = 1, logy: bool = False):
        """Plot the named series (default: all) against their steps; see ``gm.plotting.loss_curves``."""
        from gm_helpers.plotting import loss_curves

        return loss_curves(self, names or None, ax=ax, smooth=smooth, logy=logy)

    def __repr__(self) -> str:
        series = ", ".join(f"{name}: {len(values)}" for name, values in self.items())
        return f"History({series}; {len(self.snapshots)} snapshots, best step {self.best_step})"


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None):
    """Run the body with torch's global generators seeded by ``seed``, then restore them.

    Inside, ``torch.randn`` & co. (on the CPU and on ``device`` when it is a GPU) draw the same
    numbers whatever happened before; outside, the caller's random state is as it was: training
    neither depends on nor disturbs the participant's own random numbers.

    Example:
        >>> with seeded(3):
        ...     a = torch.rand(2)
        >>> with seeded(3):
        ...     b = torch.rand(2)
        >>> bool(torch.equal(a, b))
        True
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    gpus = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus, device_type="cuda"):
        torch.manual_seed(seed)
        yield


def _as_float(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def train_loop(
    step: Callable[[int], Mapping[str, float | torch.Tensor]],
    steps: int,
    *,
    desc: str = "training",
    progress: bool = True,
    modules: Sequence[nn.Module] = (),
    validate: Callable[[], Mapping[str, float]] | None = None,
    snapshot: Callable[[], object] | None = None,
    eval_every: int = 0,
    monitor: str | None = None,
    patience: int | None = None,
    hint: str = "a learning rate that is too high, or a log/division of a value that reached 0",
) -> History:
    """Call ``step(i)`` for i = 0 .. steps - 1, with the bookkeeping every trainer shares.

    Arguments:
        step: does one optimization step and returns its losses, name -> scalar.
        steps: number of steps.
        desc, progress: label of the tqdm progress bar (a widget in a notebook), and whether to show it.
        modules: the modules being trained: put in eval mode while evaluating, and all rolled back
            together to the best state when ``monitor`` is given.
        validate: returns evaluation figures, name -> number; called every ``eval_every`` steps and
            after the last one (eval_every = 0: after the last one only).
        snapshot: returns anything worth keeping (samples, a figure of merit), at the same steps.
        monitor: the name of a figure of ``validate`` to minimize: the modules end with the state
            of its best value, and ``patience`` evaluations without a better value stop training.
        hint: the likely cause quoted when a loss turns NaN or infinite.

    Returns:
        A :class:`History`; losses logged at steps 1 .. steps, evaluations and snapshots at the
        steps they were taken after.

    Raises:
        NonFiniteLossError: naming the loss and the step, as soon as a loss is NaN or infinite.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not isinstance(eval_every, int) or eval_every < 0:
        raise ValueError(f"eval_every must be a non-negative integer, got {eval_every!r}")
    if patience is not None and monitor is None:
        raise ValueError("patience needs a validation loss to watch: give validation data")
    history = History()
    best = {"value": math.inf, "states": None, "bad": 0}

    def evaluate(done: int) -> bool:
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            values = dict(validate()) if validate is not None else {}
            history.log(done, values)
            if snapshot is not None:
                history.snapshots.append((done, snapshot()))
        finally:
            for m, mode in zip(modules, modes, strict=True):
                m.train(mode)
        if monitor is None:
            return False
        if values[monitor] < best["value"]:
            states = [copy.deepcopy(m.state_dict()) for m in modules]
            best.update(value=values[monitor], states=states, bad=0)
            history.best_step = done
        else:
            best["bad"] += 1
        return patience is not None and best["bad"] >= patience

    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True)
    postfix_every = max(1, steps // 100)
    for i in bar:
        losses = {name: _as_float(value) for name, value in step(i).items()}
        for name, value in losses.items():
            if not math.isfinite(value):
                bar.close()
                raise NonFiniteLossError(
                    f"loss '{name}' became {value} at step {i + 1} of {steps}; likely cause: {hint}."
                )
        history.log(i + 1, losses)
        if i % postfix_every == 0:
            bar.set_postfix({name: f"{value:.4g}" for name, value in losses.items()})
        last = i == steps - 1
        due = last or (eval_every and (i + 1) % eval_every == 0)
        if (validate is not None or snapshot is not None) and due and evaluate(i + 1):
            history.stopped_early = not last
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    if best["states"] is not None:
        for m, state in zip(modules, best["states"], strict=True):
            m.load_state_dict(state)
    return history


def infinite_batches(
    *tensors: torch.Tensor | None,
    batch_size: int,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Iterator[tuple[torch.Tensor | None, ...]]:
    """Endless shuffled mini-batches of ``tensors`` (all with the same first dimension).

    Each pass over the data is a fresh permutation drawn from a generator seeded by ``seed``;
    batches are moved to ``device`` when one is given. A ``None`` among the tensors (no context)
    stays ``None`` in every batch.
    """
    present = [t for t in tensors if t is not None]
    if not present:
        raise ValueError("give at least one tensor")
    n = len(present[0])
    if any(len(t) != n for t in present):
        raise ValueError(f"data and context differ in length: {[len(t) for t in present]}")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an integer between 1 and the data size {n}, got {batch_size!r}")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            yield tuple(
                None if t is None else (t[index].to(device) if device is not None else t[index])
                for t in tensors
            )


def prepare(
    model: nn.Module | Sequence[nn.Module],
    data: torch.Tensor,
    context: torch.Tensor | None,
    device: torch.device | str | None,
    val_data: torch.Tensor | None = None,
    val_context: torch.Tensor | None = None,
) -> torch.device:
    """The checks and moves every trainer starts with; returns the device to train on."""
    from gm_helpers.core import get_device

    if not isinstance(data, torch.Tensor):
        raise ValueError(f"data must be a torch.Tensor (N, ...), got {type(data).__name__}")
    for name, (x, c) in {"": (data, context), "val_": (val_data, val_context)}.items():
        if x is not None and c is not None and len(c) != len(x):
            raise ValueError(f"{name}context has {len(c)} rows but {name}data has {len(x)}")
        if x is None and c is not None:
            raise ValueError(f"{name}context given without {name}data")
    models = [model] if isinstance(model, nn.Module) else list(model)
    for m in models:
        condition = getattr(m, "condition", None)
        if isinstance(condition, nn.Module) and hasattr(condition, "features"):
            if condition.features and context is None:
                raise ValueError("this model is conditional: pass context= (the condition of each sample)")
            if not condition.features and context is not None:
                raise ValueError("this model is unconditional but got a condition; build it with "
                                 "context_features=... or n_classes=... to condition it")  # fmt: skip
    device = torch.device(device) if device is not None else get_device()
    for m in models:
        m.to(device).train()
    return device
