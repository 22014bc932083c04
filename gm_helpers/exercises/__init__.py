"""The checks of the exercises, one module per exercise notebook, named after it.

- ``generative_modeling`` (exercise 00), ``gan`` (01), ``wgan`` (02), ``vae`` (03), ``flows`` (04),
  ``calorimeter`` (05), ``anomaly`` (06), ``inference`` (07), ``pid`` (08), ``progressive`` (09),
  ``diffusion`` (10).

Each module holds ``check_<answer>(answer, ...)`` functions. A check runs the participant's answer
on fresh inputs against an independent reference (values worked out by hand, torch.distributions,
the course's own reference implementation) and raises an ``AssertionError`` whose message names
the likely cause; it compares gradients as well as values where the answer must be
differentiable, and holds likelihoods to hard bounds. Notebooks call them through
``gm.checks.check(name, lambda: gm.exercises.wgan.check_gradient_penalty(gradient_penalty))``.

Every stub has a catalogue of known wrong answers in ``tests/test_catalogue_<module>.py``: each
must fail its check with a message that names its cause, and the reference must pass.
"""

import importlib

_MODULES = (
    "anomaly",
    "calorimeter",
    "diffusion",
    "flows",
    "gan",
    "generative_modeling",
    "inference",
    "pid",
    "progressive",
    "vae",
    "wgan",
)
__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f"gm_helpers.exercises.{name}")
    raise AttributeError(f"module 'gm_helpers.exercises' has no attribute {name!r}")
