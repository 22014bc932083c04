"""Checks of exercise 05 (``05_calorimeter``): what a participant's shower generator returns.

``check_generator(generate)`` asks the generator for showers at a few incident energies (each
repeated) and says what is wrong with the output, naming the cause: a unit problem (GeV instead
of MeV, normalized showers) is reported as such before the threshold is looked at; layers not
flattened, a transposed array, NaN, negative cells, cells left below the 0.1 MeV threshold,
float16, the energy argument ignored, the same shower for every call, a call to the simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gm_helpers.core import to_numpy
from gm_helpers.data.calorimeter import (
    CELL_THRESHOLD_MEV,
    LAYER_SHAPES,
    N_CELLS,
    SimulatorCalledError,
    refuse_simulation,
    simulator_refusal_message,
)

__all__ = ["PROBE_ENERGIES_GEV", "check_generator"]

PROBE_ENERGIES_GEV = (1.0, 5.0, 20.0, 60.0, 99.0)  # each asked 20 times
_VISIBLE = 0.19  # median E_tot / E_inc of the simulator for e+


def _probe() -> torch.Tensor:
    return torch.tensor(PROBE_ENERGIES_GEV, dtype=torch.float32).repeat_interleave(20)


def check_generator(generate: Callable) -> None:
    """Raise an ``AssertionError`` naming the cause unless ``generate`` returns valid e+ showers.

    ``generate(energies)`` gets a CPU float32 tensor (n,) of incident energies in GeV and must
    return an (n, 504) tensor or array of cell energies in MeV (float32 or float64), finite, >= 0,
    zero below 0.1 MeV, one fresh shower per energy, with E_tot / E_inc near 0.19.
    """
    if generate is None or not callable(generate):
        raise AssertionError(
            f"make_generator must return a function energies -> cells, got {type(generate).__name__} "
            "(did make_generator forget its `return generate`?)"
        )
    energies = _probe()
    n = len(energies)
    with refuse_simulation("the exercise check") as refusal:
        try:
            first = generate(energies.clone())
            second = generate(energies.clone())
        except SimulatorCalledError as error:
            raise AssertionError(str(error)) from None
    if refusal["calls"]:
        raise AssertionError(simulator_refusal_message("the exercise check"))
    cells = _cells(first, n)
    if not np.all(np.isfinite(cells)):
        raise AssertionError(
            f"{int((~np.isfinite(cells)).sum())} cells are NaN or infinite: a log of 0, a division by "
            "an empty layer, or an exp that overflowed (decode with torch.clamp, not log of raw zeros)"
        )
    if cells.min() < 0:
        raise AssertionError(
            f"negative cell energies (down to {cells.min():.3g} MeV): clamp the output at 0 "
            "(torch.relu) before the threshold"
        )
    total = cells.sum(axis=1, dtype=np.float64)
    by_energy = np.array([np.median(total[k * 20 : (k + 1) * 20]) for k in range(len(PROBE_ENERGIES_GEV))])
    if np.allclose(total, 1.0, rtol=1e-3) or np.allclose(total, 3.0, rtol=1e-3):
        raise AssertionError(
            f"every shower sums to {total.mean():.0f}: these are normalized showers (shapes), a unit "
            "problem; scale each layer back to its energy in MeV before returning them"
        )
    spread = np.ptp(cells, axis=0).max()
    if spread == 0:
        raise AssertionError(
            "the same shower for every energy: generate ignores its argument (feed the incident energy, "
            "e.g. standardized log E, to the model as its condition)"
        )
    if by_energy[-1] < 5 * max(by_energy[0], 1e-30):
        raise AssertionError(
            f"the median total energy is {by_energy[0]:.3g} MeV at 1 GeV and {by_energy[-1]:.3g} MeV at "
            "99 GeV: it should grow about 100-fold. generate ignores (or misreads) the energy argument: "
            "condition the model on the incident energy, and scale the showers with it"
        )
    visible = float(np.median(total / (1000.0 * energies.numpy().astype(np.float64))))
    if visible < _VISIBLE / 20:
        factor = _VISIBLE / max(visible, 1e-30)
        cause = (
            "the cells are in GeV: multiply by 1000 (the threshold is 0.1 MeV, so convert first)"
            if 200 < factor < 5000
            else "are the cells in MeV and the energies read in GeV (not normalized, not logs)?"
        )
        raise AssertionError(
            f"a unit problem, not a threshold problem: the median E_tot / E_inc is {visible:.3g}, the "
            f"simulator gives {_VISIBLE} (x{factor:,.0f} too small); {cause}"
        )
    if visible > 20 * _VISIBLE or visible > 1.0:
        factor = visible / _VISIBLE
        cause = (
            "the energies were read as MeV where they are GeV, or the cells multiplied by 1000 twice"
            if 200 < factor < 5000
            else "the showers carry more energy than the particle: check the decoding (exp of logs?)"
        )
        raise AssertionError(
            f"a unit problem: the median E_tot / E_inc is {visible:.3g}, the simulator gives {_VISIBLE} "
            f"(x{factor:,.0f} too large); {cause}"
        )
    below = (cells > 0) & (cells < CELL_THRESHOLD_MEV)
    if below.any():
        raise AssertionError(
            f"{int(below.sum())} cells lie between 0 and {CELL_THRESHOLD_MEV} MeV: the simulator sets every "
            "cell below the threshold to exactly 0, and the classifier counts non-zero cells. Apply "
            "torch.where(cells >= 0.1, cells, 0) as the last step"
        )
    for k in range(len(PROBE_ENERGIES_GEV)):
        group = cells[k * 20 : (k + 1) * 20]
        if np.all(group == group[0]):
            raise AssertionError(
                f"all 20 showers asked at {PROBE_ENERGIES_GEV[k]:g} GeV are identical: draw fresh noise "
                "for every shower (torch.randn(n, ...)), not one noise vector for the batch"
            )
    again = _cells(second, n)
    if np.array_equal(cells, again):
        raise AssertionError(
            "two calls with the same energies give the very same showers: the generator is deterministic "
            "(a fixed seed or fixed noise inside generate, or a lookup table); draw new noise at every call"
        )


def _cells(output, n: int) -> np.ndarray:
    """The output as a float64 (n, 504) array, or an AssertionError that names what is wrong."""
    if output is None:
        raise AssertionError("generate returned None: did it forget its `return`?")
    if isinstance(output, tuple | list):
        shapes = [tuple(np.shape(part)) for part in output]
        raise AssertionError(
            f"generate returned {len(output)} arrays of shapes {shapes}, the layers one by one: return one "
            f"({n}, {N_CELLS}) array, the layers flattened and concatenated in order 0, 1, 2: "
            "torch.cat([layer.flatten(1) for layer in layers], dim=1)"
        )
    if isinstance(output, torch.Tensor) and output.dtype == torch.float16:
        raise AssertionError(_HALF)
    try:
        array = to_numpy(output)
    except (TypeError, ValueError, AttributeError) as error:
        raise AssertionError(
            f"generate must return an ({n}, {N_CELLS}) tensor or array, got {type(output).__name__}"
        ) from error
    if array.dtype == np.float16:
        raise AssertionError(_HALF)
    if not np.issubdtype(array.dtype, np.number):
        raise AssertionError(f"generate returned an array of dtype {array.dtype}: cell energies are numbers")
    shape = array.shape
    if shape != (n, N_CELLS):
        if shape == (N_CELLS, n):
            cause = "it is transposed: one row per shower, so .T it"
        elif len(shape) >= 2 and shape[0] == n and int(np.prod(shape[1:])) == N_CELLS:
            cause = f"flatten each shower: .reshape({n}, {N_CELLS})"
        elif len(shape) == 3 and shape[0] == n and shape[1:] in [tuple(s) for s in LAYER_SHAPES]:
            cause = (
                f"that is one layer {shape[1:]}: return all three, flattened and concatenated "
                "(layer 0, then 1, then 2)"
            )
        elif shape[:1] != (n,):
            cause = f"one shower per asked energy: {n} energies were asked"
        else:
            cause = f"the {N_CELLS} cells are the 288 + 144 + 72 cells of the three layers"
        raise AssertionError(f"generate returned shape {shape}, expected ({n}, {N_CELLS}): {cause}")
    return array.astype(np.float64)


_HALF = (
    "the cells are float16: 3 significant digits are not enough (layer energies sum hundreds of cells "
    "and the classifier sees a 2 % error of the energy scale). Return float32"
)
