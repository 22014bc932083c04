"""Checkpoints the course ships for its long trainings: train here, or load what ``make pretrain`` made.

A training that takes more than about two minutes on a laptop CPU in full mode is written in its
notebook as a function, and the notebook asks for its result by name::

    def train_gan():
        gan = CaloWGAN(train, hidden=(512,) * 3, seed=SEED)
        return gan, gan.fit(steps=2000, device=DEVICE)

    gan, history = gm.pretrained.train_or_load("calo-wgan", train_gan, train=TRAIN)

``train=True`` trains here; ``train=False`` loads ``gm_helpers/checkpoints/calo-wgan.pt``;
``train=None`` (the notebooks' default) trains in quick mode (tiny models, seconds) and on a GPU,
and loads otherwise, saying so. Either way the notebook goes on with a model of the same recipe
and its training history, so its figures and conclusions are the same.

``make pretrain`` (``python -m gm_helpers pretrain``) makes the checkpoints: it runs the notebooks
named in ``CHECKPOINTS`` in full mode with ``TRAIN = True`` and ``GM_PRETRAIN=1``. Then
``train_or_load`` trains, saves the model (parameters in float16 to keep the files small, buffers
in full precision), loads it back, so that the rest of the notebook works with exactly the
weights that ship, and records the checkpoint's figure (``Checkpoint.measure``) measured on
the loaded model. ``tests/test_pretrained.py`` loads every checkpoint into today's classes and
measures that figure again, so a checkpoint cannot go stale silently. Every run is seeded: the
same command, torch version and thread count give the same weights. Files are read with
``torch.load(weights_only=True)`` (``gm_helpers.model``): a checkpoint cannot run code.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gm_helpers.core import get_device, quick_mode
from gm_helpers.model import Model, _resolve, checkpoint_info
from gm_helpers.train import History, seeded

__all__ = ["CHECKPOINTS", "Checkpoint", "load", "path", "should_train", "train_or_load"]

FOLDER = Path(__file__).resolve().parent / "checkpoints"
PRETRAIN_ENV = "GM_PRETRAIN"


def _digit_accuracy(generator) -> float:
    from gm_helpers.metrics import digit_accuracy

    asked = torch.arange(10).repeat_interleave(50)
    with seeded(0), torch.no_grad():
        images = generator.sample(len(asked), context=asked.to(next(generator.parameters()).device))
    return digit_accuracy(images.cpu(), asked)


def _guided_digit_accuracy(model) -> float:
    from gm_helpers.diffusion.recipes import generate_digits
    from gm_helpers.metrics import digit_accuracy

    asked = torch.arange(10).repeat_interleave(50)
    return digit_accuracy(generate_digits(model.cpu(), asked, seed=0), asked)


def _shower_auc(model) -> float:
    from gm_helpers.calorimeter import score, training_showers

    model.cpu()
    with seeded(0):
        return score(model.generate, n=2000, name="checkpoint test", leaderboard=None,
                     training=training_showers(5000)).auc  # fmt: skip


def _lhco_nll(region: str) -> Callable[[Model], float]:
    def nll(flow) -> float:
        from gm_helpers.data import lhco

        events = getattr(lhco.simulate(200_000, seed=12_345), region)()  # events no flow was trained on
        return -float(flow.log_prob(events).mean())

    return nll


def _posterior_nll(npe) -> float:
    from gm_helpers.data import chirp

    theta, x = chirp.Chirp().simulate(2000, seed=12_345)  # simulations no NPE was trained on
    return -float(npe.cpu().log_prob(theta, x).mean())


def _pid_pull(species: str) -> Callable[[Model], float]:
    def pull(model) -> float:
        from gm_helpers.pid.recipes import efficiency_pull

        return efficiency_pull(model, species)

    return pull


def _texture_beta(generator) -> float:
    from gm_helpers.imaging import texture_beta
    from gm_helpers.imaging.recipes import samples

    return texture_beta(samples(generator.cpu(), 1000, seed=0), n_boot=0).value


@dataclass(frozen=True)
class Checkpoint:
    """A shipped checkpoint: the class it loads into, the notebook that makes it, and its figure."""

    name: str
    model_class: str  # "module:Class", the class ``load`` rebuilds
    notebook: str  # made by running this notebook (path from the course root) with TRAIN = True
    minutes: str  # how long the training takes in full mode on a 2-core CPU
    figure: str  # what ``measure`` returns
    measure: Callable[[Model], float]  # the figure, measured on a small sample with fixed seeds
    tolerance: float  # how far a re-measurement may lie from the recorded figure


_SHOWER_AUC = "classifier AUC of 2,000 showers against the simulator (gm.calorimeter.score)"
_LECTURE_06 = "lectures/06_anomaly_detection.ipynb"
_LECTURE_07 = "lectures/07_simulation_based_inference.ipynb"
_LECTURE_08 = "lectures/08_pid_fast_simulation.ipynb"
_LECTURE_09 = "lectures/09_high_resolution_images.ipynb"
_LECTURE_10 = "lectures/10_diffusion_flow_matching.ipynb"
_BETA = "texture exponent beta of 1,000 generated images (gm.imaging.texture_beta)"
_PID_PULL = "mean |z| of the DLLK > 0 efficiency over 12 momentum bins, 50,000 fresh tracks"
_PID_CLASSES = {"gan": "gm_helpers.gan:MLPGenerator", "wgan": "gm_helpers.gan:MLPGenerator",
                "flow": "gm_helpers.flows:Flow"}  # fmt: skip
CHECKPOINTS = {
    c.name: c
    for c in [
        Checkpoint("lecture01-cdcgan", "gm_helpers.gan:DCGANGenerator", "lectures/01_gan.ipynb", "about 3",
                   "fraction of 500 generated digits (50 of each) the digit classifier reads as asked",
                   _digit_accuracy, tolerance=0.02),
        Checkpoint("calo-wgan", "gm_helpers.calorimeter:CaloWGAN", "lectures/05_calorimeter.ipynb", "about 8",
                   _SHOWER_AUC, _shower_auc, tolerance=0.02),
        Checkpoint("caloflow", "gm_helpers.calorimeter:CaloFlow", "lectures/05_calorimeter.ipynb", "about 5",
                   _SHOWER_AUC, _shower_auc, tolerance=0.02),
        Checkpoint("lecture06-sideband-flow", "gm_helpers.anomaly:SidebandFlow", _LECTURE_06, "about 7",
                   "NLL per event of fresh side-band events", _lhco_nll("sidebands"), tolerance=0.01),
        Checkpoint("lecture06-control-flow", "gm_helpers.anomaly:SidebandFlow", _LECTURE_06, "about 7",
                   "NLL per event of fresh side-band events", _lhco_nll("sidebands"), tolerance=0.01),
        Checkpoint("lecture06-sr-flow", "gm_helpers.anomaly:SidebandFlow", _LECTURE_06, "about 1",
                   "NLL per event of fresh signal-region events", _lhco_nll("signal_region"), tolerance=0.01),
        Checkpoint("lecture07-npe", "gm_helpers.inference:NPE", _LECTURE_07, "about 20",
                   "-log q(theta | x) of 2,000 fresh simulations", _posterior_nll, tolerance=0.02),
        *(Checkpoint(f"lecture08-{species}-{kind}", model_class, _LECTURE_08, "about 10", _PID_PULL,
                     _pid_pull(species), tolerance=0.3)
          for species in ("K", "pi") for kind, model_class in _PID_CLASSES.items()),
        *(Checkpoint(f"lecture09-{kind}", "gm_helpers.gan:ProgressiveGenerator", _LECTURE_09, "about 20",
                     _BETA, _texture_beta, tolerance=0.02) for kind in ("progressive", "fixed")),
        Checkpoint("lecture10-digits", "gm_helpers.diffusion:FlowMatching", _LECTURE_10, "about 4",
                   "fraction of 500 guided digits (w = 2, 50 of each) the digit classifier reads as asked",
                   _guided_digit_accuracy, tolerance=0.03),
        Checkpoint("calo-flow-matching", "gm_helpers.calorimeter:CaloFlowMatching", _LECTURE_10, "about 10",
                   _SHOWER_AUC, _shower_auc, tolerance=0.02),
    ]
}  # fmt: skip


def path(name: str) -> Path:
    """Where the checkpoint ``name`` lives (``gm_helpers/checkpoints/<name>.pt``)."""
    if name not in CHECKPOINTS:
        raise KeyError(f"no checkpoint called {name!r}; the course ships {', '.join(CHECKPOINTS)}")
    return FOLDER / f"{name}.pt"


def should_train(train: bool | None) -> bool:
    """The notebooks' ``TRAIN`` parameter: True or False as asked; None trains in quick mode
    (tiny models) and on a GPU, and loads the shipped checkpoint on a CPU in full mode."""
    if train is not None and not isinstance(train, bool):
        raise TypeError(f"TRAIN must be True, False or None (decide for me), got {train!r}")
    if train is not None:
        return train
    return quick_mode() or get_device().type != "cpu"


def _history_to_plain(history: History) -> dict:
    return {
        "values": {k: list(v) for k, v in history.items()},
        "steps": {k: history.steps(k) for k in history},
        "best_step": history.best_step,
        "stopped_early": history.stopped_early,
        "seconds": history.seconds,
        # snapshots that are tensors (a grid of samples per stage, say) travel with the checkpoint
        "snapshots": [(step, value) for step, value in history.snapshots if isinstance(value, torch.Tensor)],
    }


def _history_from_plain(plain: dict) -> History:
    history = History()
    for name, values in plain["values"].items():
        for step, value in zip(plain["steps"][name], values, strict=True):
            history.log(step, {name: value})
    history.best_step = plain["best_step"]
    history.stopped_early = plain["stopped_early"]
    history.snapshots = list(plain.get("snapshots", []))  # older checkpoints kept none
    history.seconds = plain.get("seconds")
    return history


def _load(name: str, device) -> tuple[Model, History, dict]:
    file = path(name)
    if not file.exists():
        raise FileNotFoundError(
            f"{file} is missing: run `make pretrain` (about {CHECKPOINTS[name].minutes} min for this one), "
            "or train here with TRAIN = True"
        )
    model = _resolve(CHECKPOINTS[name].model_class).load(file, device=device or get_device())
    info = checkpoint_info(file)
    history = _history_from_plain(info["history"])
    if history.seconds is None:  # checkpoints made before histories kept their time
        history.seconds = info["made"]["seconds"]
    return model, history, info


def load(name: str, device: torch.device | str | None = None) -> tuple[Model, History]:
    """The shipped checkpoint ``name`` and the history of its training, on ``device``
    (default: ``gm.get_device()``)."""
    model, history, _ = _load(name, device)
    return model, history


def train_or_load(
    name: str, train_fn: Callable[[], tuple[Model, History]], train: bool | None = None
) -> tuple[Model, History]:
    """``train_fn()`` when ``should_train(train)``, else the shipped checkpoint ``name``; see the
    module docstring. ``train_fn`` returns ``(model, history)``, like ``load``."""
    if not should_train(train):
        model, history, info = _load(name, None)
        made = info["made"]
        print(
            f"loaded the pretrained {name!r} ({made['notebook']}, {made['seconds'] / 60:.0f} min of training "
            f"on {made['machine']}; {CHECKPOINTS[name].figure}: {info['figure']:.3f}). "
            "Set TRAIN = True to train it here."
        )
        return model, history
    start = time.perf_counter()
    model, history = train_fn()
    seconds = time.perf_counter() - start
    if os.environ.get(PRETRAIN_ENV, "") in ("", "0"):
        return model, history
    return _make_checkpoint(name, model, history, seconds)


def _make_checkpoint(name: str, model: Model, history: History, seconds: float) -> tuple[Model, History]:
    """Save, load back, measure the figure on the loaded model, and save again with the figure."""
    checkpoint = CHECKPOINTS[name]
    made = {
        "notebook": checkpoint.notebook,
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "date": datetime.date.today().isoformat(),
    }
    info = {"history": _history_to_plain(history), "made": made, "figure": float("nan")}
    device = next(model.parameters()).device
    model.save(path(name), half=True, info=info)
    loaded, history = load(name, device=device)
    info["figure"] = float(checkpoint.measure(loaded))
    loaded.save(path(name), half=True, info=info)
    loaded.to(device)
    print(f"saved {path(name)}: {checkpoint.figure} = {info['figure']:.4f}")
    return loaded, history
