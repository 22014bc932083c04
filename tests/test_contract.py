"""One test of the training contract, run over every trainer of the course (as zuko runs one test
over all its transforms): keywords, step numbering, snapshots, seeding that leaves the caller's
random state alone, validation with a roll-back of every trained module, and the NaN guard."""

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import gm_helpers as gm
from gm_helpers.data.calorimeter import simulate
from gm_helpers.train import History, NonFiniteLossError

CONTRACT = ("context", "steps", "batch_size", "lr", "device", "seed", "progress", "desc",
            "val_data", "val_context", "eval_every", "patience", "snapshot")  # fmt: skip


@dataclass
class Case:
    """A trainer with what it needs: ``train(**keywords) -> History`` on a fresh model each call."""

    name: str
    make: Any  # () -> (model, trainer(**kw) -> History, parameters to watch)
    data: Any  # (data, context) or None when the model holds its own data
    validates: bool = True


def _toy(n=64, labels=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, ((x[:, 0] > 0).long() if labels else None)


def _images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float(), torch.arange(n) % 10


def _gan():
    G, D = gm.gan.MLPGenerator(2, hidden=(16,), n_classes=2), gm.gan.MLPCritic(2, hidden=(16,), n_classes=2)
    return torch.nn.ModuleList([G, D]), lambda data, **kw: gm.gan.train_gan(
        G, D, data, kind="wgan-gp", n_critic=1, **kw
    )


def _vae():
    model = gm.vae.ConditionalVAE(latent_features=2, hidden=(16,))
    return model, lambda data, **kw: gm.vae.train_vae(model, data, **kw)


def _vqvae():
    model = gm.vae.VQVAE(n_codes=8, code_dim=4, channels=4)
    return model, lambda data, **kw: gm.vae.train_vae(model, data, **kw)


def _flow():
    flow = gm.flows.nsf(2, n_classes=2, transforms=2, hidden=(16,))
    return flow, lambda data, **kw: gm.flows.train_flow(flow, data, **kw)


def _flow_matching():
    model = gm.diffusion.FlowMatching(gm.diffusion.VectorField(2, hidden=(16,), n_classes=2))
    return model, lambda data, **kw: gm.diffusion.train_diffusion(model, data, **kw)


def _ddpm():
    model = gm.diffusion.DDPM(gm.diffusion.VectorField(2, hidden=(16,)), T=50)
    return model, lambda data, **kw: gm.diffusion.train_diffusion(model, data, **kw)


_SHOWERS = {}


def _showers():
    if not _SHOWERS:
        _SHOWERS["train"] = simulate(96, seed=5)
    return _SHOWERS["train"]


def _calo_wgan():
    model = gm.calorimeter.CaloWGAN(_showers(), latent_features=4, hidden=(16,), augment=False)
    return model, lambda data, **kw: model.fit(data, n_critic=1, **kw)


def _calo_flow():
    model = gm.calorimeter.CaloFlow(_showers(), hidden=(8,), transforms=1, augment=False)
    return model, lambda data, **kw: model.fit(data, **kw)


def _calo_flow_matching():
    model = gm.calorimeter.CaloFlowMatching(_showers(), hidden=(8,), sample_steps=2, augment=False)
    return model, lambda data, **kw: model.fit(data, **kw)


CASES = [
    Case("gan", _gan, lambda: _toy(labels=True), validates=False),
    Case("vae", _vae, lambda: _images()),
    Case("vqvae", _vqvae, lambda: (_images()[0], None)),
    Case("flow", _flow, lambda: _toy(labels=True)),
    Case("calo-wgan", _calo_wgan, lambda: (None, None), validates=False),
    Case("calo-flow", _calo_flow, lambda: (None, None)),
    Case("flow-matching", _flow_matching, lambda: _toy(labels=True)),
    Case("ddpm", _ddpm, lambda: _toy()),
    Case("calo-flow-matching", _calo_flow_matching, lambda: (None, None)),
]
IDS = [c.name for c in CASES]


def _run(case: Case, **kw) -> tuple[Any, History]:
    model, train = case.make()
    data, context = case.data()
    kw = {"steps": 4, "batch_size": 16, "device": "cpu", "progress": False, **kw}
    if data is None:  # a physics model: its own training showers, data=None
        kw.pop("context", None)
        return model, train(None, **kw)
    return model, train(data, context=context, **kw)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_history_numbers_losses_and_snapshots_by_step(case):
    seen = []
    model, history = _run(case, steps=5, eval_every=2, snapshot=lambda m: seen.append(m) or len(seen))
    assert isinstance(history, History)
    for name in history:
        assert history.steps(name) == [1, 2, 3, 4, 5], name
        assert np.isfinite(history[name]).all(), name
    assert [s for s, _ in history.snapshots] == [2, 4, 5] and [v for _, v in history.snapshots] == [1, 2, 3]
    assert all(m is not None for m in seen)
    leaves = [m for m in model.modules() if not isinstance(m, torch.nn.ModuleList)]
    assert not any(m.training for m in leaves), "a trained model is left in eval mode"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_seed_alone_fixes_the_run_and_the_callers_random_state_is_untouched(case):
    data, context = case.data()
    kw = {"steps": 4, "batch_size": 16, "device": "cpu", "progress": False, "seed": 7}
    if data is not None:
        kw["context"] = context
    runs = []
    for caller_seed in (1, 2):  # two different random states of the participant
        torch.manual_seed(0)
        model, train = case.make()  # the same initial model both times
        torch.manual_seed(caller_seed)
        before = torch.get_rng_state()
        runs.append(train(data, **kw))
        assert torch.equal(torch.get_rng_state(), before), (
            "training must leave the caller's random state alone"
        )
    assert dict(runs[0]) == dict(runs[1]), "the same model and seed must give the same run"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_another_seed_gives_another_run(case):
    torch.manual_seed(1)
    _, a = _run(case, seed=1)
    torch.manual_seed(1)
    _, b = _run(case, seed=2)
    assert dict(a) != dict(b)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.validates], ids=[c.name for c in CASES if c.validates]
)
def test_validation_keeps_the_best_state_of_the_model(case):
    data, context = case.data()
    if data is None:
        val = {"val_data": simulate(48, seed=6)}
    else:
        val = {"val_data": data[:16], "val_context": None if context is None else context[:16]}
    model, history = _run(case, steps=12, lr=0.05, eval_every=1, **val)
    (key,) = [k for k in history if k.startswith("val_")]
    values = history[key]
    assert history.steps(key) == list(range(1, 13))
    assert history.best_step == history.steps(key)[int(np.argmin(values))]


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.validates], ids=[c.name for c in CASES if not c.validates]
)
def test_a_gan_says_it_has_no_validation_likelihood(case):
    with pytest.raises(ValueError, match="no validation likelihood"):
        _run(case, val_data=torch.zeros(4, 2), patience=2)


@pytest.mark.parametrize("name", ["gan", "vae", "vqvae", "flow", "flow-matching", "ddpm"])
def test_a_nan_in_the_data_stops_training_naming_the_step(name):
    case = next(c for c in CASES if c.name == name)
    data, context = case.data()
    data = data.clone()
    data[:] = float("nan")
    _, train = case.make()
    with pytest.raises((NonFiniteLossError, ValueError), match=r"step 1 of 3|NaN|nan"):
        train(data, context=context, steps=3, batch_size=16, device="cpu", progress=False)


def test_every_trainer_takes_the_contract_keywords():
    for trainer in (gm.gan.train_gan, gm.vae.train_vae, gm.flows.train_flow, gm.diffusion.train_diffusion):
        parameters = inspect.signature(trainer).parameters
        missing = [k for k in CONTRACT if k not in parameters]
        assert not missing, f"{trainer.__name__} lacks {missing}"
        assert all(parameters[k].kind is inspect.Parameter.KEYWORD_ONLY for k in CONTRACT), trainer.__name__
    for model in (gm.calorimeter.CaloWGAN, gm.calorimeter.CaloFlow, gm.calorimeter.CaloFlowMatching):
        parameters = inspect.signature(model.fit).parameters
        assert parameters["steps"].kind is inspect.Parameter.KEYWORD_ONLY
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
