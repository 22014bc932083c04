"""gm_helpers: the small, GPU-aware helper package of the course 'Generative Models for Physics'.

The pedagogy lives in the notebooks; this package holds what would distract from it (data,
metrics, plotting, training boilerplate, exercise checks) and the models that two or more
notebooks share. Notebooks use it as ``import gm_helpers as gm``; submodules (``gm.data``,
``gm.metrics``, ``gm.gan``, ...) are imported on first use, so ``import gm_helpers`` stays quick.

Where things are (one idea per module; a lecture's code is found under its name):

- ``core``: device, quick mode, seeds, caches; ``train``: the training contract (below);
  ``model``: save / load of every model; ``nets``: the MLP builder and ``Condition``;
  ``pretrained``: the checkpoints shipped for trainings longer than ~2 minutes on a CPU;
- the families, one package each, in lecture order: ``gan`` (01-02), ``vae`` (03), ``flows`` (04),
  ``diffusion`` (10);
- the physics sections: the data in ``data`` (``data.calorimeter``, ``data.lhco``, ...), the methods
  in a package named after the lecture (``calorimeter`` for 05, ``anomaly`` for 06, ``inference``
  for 07, ``pid`` for 08, ``imaging`` for 09);
- ``metrics``, ``plotting``; ``checks`` (exercise feedback) and ``exercises`` (the checks of each
  exercise, one module per notebook); ``notebooks`` and ``cli`` (tooling).

The training contract, shared by every family and physics model (details: ``gm_helpers.train``):
``history = trainer(model, data, *, context, steps, batch_size, lr, device, seed, progress, desc,
val_data, val_context, eval_every, patience, snapshot)``, where the trainers are
``gan.train_gan``, ``vae.train_vae``, ``flows.train_flow``, ``diffusion.train_diffusion`` and the
physics models' ``fit``. A ``seed`` makes a run reproducible without touching the caller's random
state; the ``History`` numbers losses, evaluations and snapshots by the same steps and keeps the
training's wall-clock time; with validation data every trained module ends in its best state.
Every model is an ``nn.Module`` with ``sample(n, context)``, ``save(path)`` and ``Class.load(path)``.
"""

import importlib

from gm_helpers.core import get_device, quick_mode, seed_everything

_SUBMODULES = (
    "anomaly",
    "calorimeter",
    "checks",
    "cli",
    "core",
    "data",
    "diffusion",
    "exercises",
    "flows",
    "gan",
    "imaging",
    "inference",
    "metrics",
    "pid",
    "model",
    "nets",
    "notebooks",
    "plotting",
    "pretrained",
    "train",
    "vae",
)
__all__ = ["get_device", "quick_mode", "seed_everything", *_SUBMODULES]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"gm_helpers.{name}")
    raise AttributeError(f"module 'gm_helpers' has no attribute {name!r}")
