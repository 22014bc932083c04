"""Fast simulation of particle identification (lecture 08): preprocessing, generation and validation.

- ``gm.pid.preprocessing``: ``PIDScaler``, scikit-learn's ``QuantileTransformer`` to a normal
  distribution on the conditions and the DLLs (as the RICH GAN of Maevskiy et al. did), and back;
- ``gm.pid.validation``: PID efficiencies and mis-identification rates against momentum with
  binomial errors, the agreement of two such curves, and a "referee" classifier's AUC per bin;
- ``gm.pid.figures``: the DLL distributions in bins of p, eta or nTracks with ratio panels, and the
  efficiency curves with their pulls.

The data are ``gm.data.pid``; the models are the course's own (``gm.gan``, ``gm.flows``).
"""

from gm_helpers.pid.figures import BINS, P_BINS, dll_in_bins, efficiency_plot
from gm_helpers.pid.preprocessing import PIDScaler, generate_dll
from gm_helpers.pid.validation import (
    EfficiencyCurve,
    curve_agreement,
    efficiency,
    efficiency_curve,
    referee_auc,
)

__all__ = [
    "BINS",
    "P_BINS",
    "EfficiencyCurve",
    "PIDScaler",
    "curve_agreement",
    "dll_in_bins",
    "efficiency",
    "efficiency_curve",
    "efficiency_plot",
    "generate_dll",
    "referee_auc",
]
