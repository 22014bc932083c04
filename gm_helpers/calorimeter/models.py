"""Conditional shower generators for lecture 05 and the hackathon, both working on the coding of
``gm_helpers.calorimeter.coding`` and both trained under the course's training contract:

- ``CaloWGAN`` (CaloGAN recipe, arXiv:1705.02355): G(z, E_inc) -> (u, y), a WGAN-GP critic
  C(u, y, E_inc); MLPs for both; ``fit`` is ``gm.gan.train_gan``.
- ``CaloFlowMatching`` (lecture 10): conditional flow matching (arXiv:2210.02747) for the whole coded
  shower (u, y) given E_inc, one ``gm.diffusion.VectorField``; ``fit`` is
  ``gm.diffusion.train_diffusion``, ``generate`` solves the ODE with Heun steps.
- ``CaloFlow`` (simplified CaloFlow, arXiv:2106.05285): flow 1, a spline flow for the layer
  energies u given E_inc; flow 2, RealNVP affine couplings with random masks and LU-linear layers
  between them for the cells y given (E_inc, u). Together they are one flow for p(u, y | E_inc),
  log p = log p_1(u | E) + log p_2(y | E, u), so ``fit`` is ``gm.flows.train_flow``.
  Simplifications against the paper: coupling instead of autoregressive transforms for flow 2,
  fixed per-cell Gaussianization instead of a logit of the normalized cells.

Both are ``gm.model.Model``s: ``model.save(path)`` keeps the networks *and* the fitted coding, so
``CaloFlow.load(path)`` generates showers without the training data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gm_helpers.calorimeter.coding import ShowerCoding, mirrored
from gm_helpers.data.calorimeter import Showers
from gm_helpers.diffusion import FlowMatching, VectorField, train_diffusion
from gm_helpers.flows import AffineCoupling, Flow, LULinear, nsf, train_flow
from gm_helpers.gan import MLPCritic, MLPGenerator, train_gan
from gm_helpers.model import Model
from gm_helpers.train import History, seeded

__all__ = ["CaloFlow", "CaloFlowMatching", "CaloWGAN"]

_CHUNK = 2500  # showers per pass in generate


class _CodedShowerModel(Model):
    """What the two models share: the coding fitted on the training showers, the coded training
    data, and generation in chunks."""

    def __init__(
        self, showers: Showers | None, augment: bool, seed: int, features: int | None, quantiles: int
    ):
        super().__init__()
        self.augment = augment
        self._data: tuple[Tensor, Tensor, Tensor] | None = None
        if showers is None:
            if features is None:
                raise ValueError(
                    "give the training showers (or features=, the number of active cells, to load)"
                )
            self.coding = ShowerCoding(features, quantiles, seed)
            return
        showers = mirrored(showers) if augment else showers
        self.coding = ShowerCoding.fit(showers, quantiles=quantiles, seed=seed)
        self._data = self.coding.encode(showers)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("showers")
        return config | {"features": self.coding.features, "quantiles": self.coding.quantiles}

    def coded(self, showers: Showers | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(context, u, y) of ``showers`` (with their mirror images when ``augment``), or of the
        showers the model was built with."""
        if showers is not None:
            return self.coding.encode(mirrored(showers) if self.augment else showers)
        if self._data is None:
            raise ValueError("this model was loaded from a checkpoint: pass the training showers to fit")
        return self._data

    def sample(self, n: int, context: Tensor) -> Tensor:
        """Coded showers (u, y) side by side, (n, 3 + features), for standardized log E_inc (n, 1)."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, energy_gev) -> Tensor:
        """Cells in MeV, (n, 504) on the CPU, for incident energies in GeV, (n,)."""
        energy = torch.as_tensor(energy_gev).reshape(-1)
        device = next(self.parameters()).device
        showers = []
        for part in energy.split(_CHUNK):  # chunks that stay in the CPU caches are faster
            x = self.sample(len(part), self.coding.context(part).to(device)).cpu()
            showers.append(self.coding.decode(part, x[:, :3], x[:, 3:]))
        return torch.cat(showers)


class CaloWGAN(_CodedShowerModel):
    """CaloGAN recipe: a WGAN-GP conditioned on the incident energy, generating the coded shower (u, y).

    Arguments:
        showers: training showers (``gm.data.calorimeter.simulate``); the coding is fitted on them.
        latent_features: size of the generator's noise.
        hidden: widths of the hidden layers of both MLPs.
        augment: train on the showers and their mirror images.
        seed: seed of the dequantization noise and of the networks' initialization.
        features, quantiles: the coding's size, for loading a checkpoint without showers.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloWGAN(simulate(64, seed=1), hidden=(16,))
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(
        self,
        showers: Showers | None = None,
        latent_features: int = 64,
        hidden: Sequence[int] = (512, 512, 512),
        augment: bool = True,
        seed: int = 0,
        features: int | None = None,
        quantiles: int = 1000,
    ):
        super().__init__(showers, augment, seed, features, quantiles)
        width = 3 + self.coding.features
        with seeded(seed):
            self.generator = MLPGenerator(width, latent_features, hidden, context_features=1)
            self.critic = MLPCritic(width, hidden, context_features=1)

    def fit(self, data: Showers | None = None, *, steps: int = 2000, lr: float = 3e-4, **contract) -> History:
        """WGAN-GP training with ``gm.gan.train_gan`` (n_critic = 5, lambda = 10, Adam (0.5, 0.9)).

        ``data``: training showers (default: those the model was built with); the other keywords
        are those of the training contract (``batch_size`` 256 by default) and of ``train_gan``.
        """
        context, u, y = self.coded(data)
        contract.setdefault("batch_size", 256)
        contract.setdefault("desc", "CaloWGAN")
        history = train_gan(self.generator, self.critic, torch.cat([u, y], dim=1), kind="wgan-gp",
                            context=context, steps=steps, lr=lr, **contract)  # fmt: skip
        self.eval()
        return history

    def sample(self, n: int, context: Tensor) -> Tensor:
        return self.generator.sample(n, context)


class CaloFlow(_CodedShowerModel):
    """Simplified CaloFlow: p(u | E_inc) by flow 1, p(y | u, E_inc) by flow 2 (see the module docstring).

    Arguments:
        showers: training showers; the coding is fitted on them.
        hidden: widths of the hidden layers of the coupling networks of flow 2.
        transforms: number of affine couplings of flow 2 (flow 1 has 6 spline couplings).
        augment: train on the showers and their mirror images.
        seed: seed of the dequantization noise, the coupling masks and the networks.
        features, quantiles: the coding's size, for loading a checkpoint without showers.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloFlow(simulate(64, seed=1), hidden=(16, 16), transforms=2)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(
        self,
        showers: Showers | None = None,
        hidden: Sequence[int] = (256, 256),
        transforms: int = 8,
        augment: bool = True,
        seed: int = 0,
        features: int | None = None,
        quantiles: int = 1000,
    ):
        super().__init__(showers, augment, seed, features, quantiles)
        features = self.coding.features
        with seeded(seed):
            self.flow1 = nsf(3, context_features=1, transforms=6, hidden=(64, 64))
            stack = []
            for i in range(transforms):
                if i:
                    stack.append(LULinear(features))  # mixes all cells between couplings
                mask = torch.randperm(features) < features // 2
                stack.append(AffineCoupling(features, 4, hidden, mask))
            self.flow2 = Flow(stack, features=features)

    def log_prob(self, x: Tensor, context: Tensor) -> Tensor:
        """log p(u, y | E) = log p_1(u | E) + log p_2(y | E, u), for x = (u, y) side by side."""
        u, y = x[:, :3], x[:, 3:]
        return self.flow1.log_prob(u, context) + self.flow2.log_prob(y, torch.cat([context, u], dim=1))

    @torch.no_grad()
    def sample(self, n: int, context: Tensor) -> Tensor:
        u = self.flow1.sample(n, context)
        return torch.cat([u, self.flow2.sample(n, torch.cat([context, u], dim=1))], dim=1)

    def fit(self, data: Showers | None = None, *, steps: int = 3000, **contract) -> History:
        """Maximum likelihood for both flows at once with ``gm.flows.train_flow`` (Adam, cosine schedule).

        ``data``: training showers (default: those the model was built with); ``val_data``:
        validation showers (the model ends in the state of their best NLL); the other keywords are
        those of the training contract (``batch_size`` 256 by default) and of ``train_flow``.
        """
        context, u, y = self.coded(data)
        contract.setdefault("batch_size", 256)
        contract.setdefault("desc", "CaloFlow")
        if isinstance(contract.get("val_data"), Showers):  # validation showers, coded like the training ones
            val_context, val_u, val_y = self.coding.encode(contract["val_data"])
            contract.update(val_data=torch.cat([val_u, val_y], dim=1), val_context=val_context)
        return train_flow(self, torch.cat([u, y], dim=1), context=context, steps=steps, **contract)


class CaloFlowMatching(_CodedShowerModel):
    r"""Conditional flow matching for the coded shower (u, y) given E_inc (lecture 10).

    One velocity field :math:`v_\theta(x, t \mid E)` on x = (u, y), a ``gm.diffusion.VectorField``
    with the standardized log E_inc as context; trained by regression on the straight noise-to-data
    path (``gm.diffusion.train_diffusion``), sampled by solving dx/dt = v from t = 0 to 1 with
    ``sample_steps`` Heun steps (two field evaluations each). Same coding as ``CaloFlow``, so the two
    differ only in how the density is modelled: a chain of invertible layers trained by maximum
    likelihood against one unconstrained network trained by regression.

    Arguments:
        showers: training showers; the coding is fitted on them.
        hidden: widths of the hidden layers of the field.
        frequencies: frequencies of the field's time embedding.
        sample_steps: Heun steps of ``generate`` (more: slower, closer to the exact flow).
        augment: train on the showers and their mirror images.
        seed: seed of the dequantization noise and of the network's initialization.
        features, quantiles: the coding's size, for loading a checkpoint without showers.

    Example:
        >>> from gm_helpers.data.calorimeter import simulate
        >>> model = CaloFlowMatching(simulate(64, seed=1), hidden=(16, 16), sample_steps=2)
        >>> model.generate(torch.full((3,), 50.0)).shape
        torch.Size([3, 504])
    """

    def __init__(
        self,
        showers: Showers | None = None,
        hidden: Sequence[int] = (512, 512, 512),
        frequencies: int = 8,
        sample_steps: int = 32,
        augment: bool = True,
        seed: int = 0,
        features: int | None = None,
        quantiles: int = 1000,
    ):
        super().__init__(showers, augment, seed, features, quantiles)
        if not isinstance(sample_steps, int) or sample_steps < 1:
            raise ValueError(f"sample_steps must be a positive integer, got {sample_steps!r}")
        self.sample_steps = sample_steps
        with seeded(seed):
            field = VectorField(3 + self.coding.features, hidden, frequencies, context_features=1)
            self.flow = FlowMatching(field)

    @torch.no_grad()
    def sample(self, n: int, context: Tensor) -> Tensor:
        return self.flow.sample(n, context, steps=self.sample_steps, method="heun")

    def fit(self, data: Showers | None = None, *, steps: int = 3000, lr: float = 1e-3, **contract) -> History:
        """The flow-matching regression with ``gm.diffusion.train_diffusion`` (Adam, cosine schedule).

        ``data``: training showers (default: those the model was built with); ``val_data``:
        validation showers (the model ends in the state of their best validation loss); the other
        keywords are those of the training contract (``batch_size`` 256 by default) and of
        ``train_diffusion``.
        """
        context, u, y = self.coded(data)
        contract.setdefault("batch_size", 256)
        contract.setdefault("desc", "CaloFlowMatching")
        if isinstance(contract.get("val_data"), Showers):  # validation showers, coded like the training ones
            val_context, val_u, val_y = self.coding.encode(contract["val_data"])
            contract.update(val_data=torch.cat([val_u, val_y], dim=1), val_context=val_context)
        history = train_diffusion(self.flow, torch.cat([u, y], dim=1), context=context, steps=steps, lr=lr,
                                  **contract)  # fmt: skip
        self.eval()
        return history
