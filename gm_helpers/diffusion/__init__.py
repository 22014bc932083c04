"""Diffusion models and flow matching, in the order of lecture 10.

- ``gm.diffusion.vector_field``: ``VectorField``, the time-conditioned MLP v(x, t | c) both families
  use (with a null class for classifier-free guidance), and ``classifier_free_guidance``;
- ``gm.diffusion.ode``: ``integrate``, a fixed-step Euler / Heun / RK4 solver;
- ``gm.diffusion.flow_matching``: conditional flow matching on the straight path from noise to data
  (``flow_matching_loss``, ``FlowMatching`` with ODE sampling and the exact or Hutchinson likelihood,
  ``divergence``);
- ``gm.diffusion.ddpm``: DDPM, the linear noise schedule, the forward marginals ``q_sample``, the
  simple loss ``ddpm_loss``, ``DDPM`` with ancestral sampling and its score-based reading;
- ``gm.diffusion.training``: ``train_diffusion``, the one trainer of both, and ``evaluate_loss``;
- ``gm.diffusion.recipes``: lecture 10's class-conditional digits (``digit_field``,
  ``digit_vectors``, ``generate_digits``); the calorimeter model is ``gm.calorimeter.CaloFlowMatching``.

Everything is re-exported here: ``gm.diffusion.FlowMatching``, ``gm.diffusion.train_diffusion``, ...

References:
    Ho, Jain and Abbeel, Denoising Diffusion Probabilistic Models, arXiv:2006.11239.
    Song et al., Score-Based Generative Modeling through Stochastic Differential Equations, arXiv:2011.13456.
    Lipman et al., Flow Matching for Generative Modeling, arXiv:2210.02747.
    Liu, Gong and Liu, Flow Straight and Fast (rectified flow), arXiv:2209.03003.
    Ho and Salimans, Classifier-Free Diffusion Guidance, arXiv:2207.12598.
"""

from gm_helpers.diffusion.ddpm import DDPM, ddpm_loss, linear_schedule, q_sample
from gm_helpers.diffusion.flow_matching import (
    COUPLINGS,
    FlowMatching,
    divergence,
    flow_matching_loss,
    ot_pairing,
)
from gm_helpers.diffusion.ode import METHODS, integrate
from gm_helpers.diffusion.recipes import DIGIT_GUIDANCE, digit_field, digit_vectors, generate_digits
from gm_helpers.diffusion.training import evaluate_loss, train_diffusion
from gm_helpers.diffusion.vector_field import (
    FieldModel,
    VectorField,
    classifier_free_guidance,
    time_embedding,
)

__all__ = [
    "COUPLINGS",
    "DDPM",
    "DIGIT_GUIDANCE",
    "METHODS",
    "FieldModel",
    "FlowMatching",
    "VectorField",
    "classifier_free_guidance",
    "ddpm_loss",
    "digit_field",
    "digit_vectors",
    "divergence",
    "evaluate_loss",
    "flow_matching_loss",
    "generate_digits",
    "integrate",
    "linear_schedule",
    "ot_pairing",
    "q_sample",
    "time_embedding",
    "train_diffusion",
]
