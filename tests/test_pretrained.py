"""The shipped checkpoints (gm_helpers.pretrained): they load into today's classes and still give
the figure recorded when they were made; the notebooks' TRAIN switch; the half-precision format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import gm_helpers as gm
from gm_helpers import pretrained
from gm_helpers.model import checkpoint_info

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for d in ("lectures", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))


def _code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("name", list(pretrained.CHECKPOINTS))
def test_checkpoint_loads_and_keeps_its_figure(name):
    checkpoint = pretrained.CHECKPOINTS[name]
    model, history = pretrained.load(name, device="cpu")
    info = checkpoint_info(pretrained.path(name))
    module, _, cls = checkpoint.model_class.partition(":")
    assert type(model).__name__ == cls and type(model).__module__.startswith(module)
    assert not any(p.requires_grad and p.dtype != torch.float32 for p in model.parameters())
    assert len(next(iter(history.values()))) > 100, "the training history was not kept"
    measured = checkpoint.measure(model)
    assert measured == pytest.approx(info["figure"], abs=checkpoint.tolerance), (
        f"{name}: {checkpoint.figure} is {measured:.4f} now, {info['figure']:.4f} when it was made: "
        "the model classes changed since; run `make pretrain` and record the new figures"
    )


def test_checkpoints_stay_small():
    total = sum(pretrained.path(name).stat().st_size for name in pretrained.CHECKPOINTS)
    # 17 checkpoints of sections 01-10 (36 MB, float16 weights); the budget keeps a clone quick
    assert total <= 40e6, f"the shipped checkpoints take {total / 1e6:.1f} MB, more than 40 MB"


def test_every_notebook_names_a_shipped_checkpoint():
    used = {}
    for notebook in NOTEBOOKS:
        code = _code(notebook)
        names = re.findall(r'train_or_load\(\s*"([^"]+)"', code)
        for template in re.findall(r'train_or_load\(\s*f"([^"]+)"', code):  # f"lecture08-{species}-{kind}"
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^-]+", re.escape(template))
            matching = [name for name in pretrained.CHECKPOINTS if re.fullmatch(pattern, name)]
            assert matching, f"{notebook.name} asks for {template!r}: no checkpoint has such a name"
            names += matching
        for name in names:
            used.setdefault(name, []).append(notebook.relative_to(ROOT).as_posix())
    unknown = set(used) - set(pretrained.CHECKPOINTS)
    assert not unknown, f"notebooks ask for checkpoints that do not exist: {unknown}"
    for name, checkpoint in pretrained.CHECKPOINTS.items():
        assert checkpoint.notebook in used.get(name, []), f"{checkpoint.notebook} does not make {name}"
        assert "TRAIN" in _code(ROOT / checkpoint.notebook)


def test_train_switch(monkeypatch):
    monkeypatch.setenv("GM_DEVICE", "cpu")
    assert pretrained.should_train(True) and not pretrained.should_train(False)
    monkeypatch.setenv("GM_QUICK", "1")
    assert pretrained.should_train(None)  # quick mode trains its tiny models
    monkeypatch.setenv("GM_QUICK", "0")
    assert not pretrained.should_train(None)  # full mode on a CPU loads
    with pytest.raises(TypeError, match="TRAIN must be True, False or None"):
        pretrained.should_train("yes")
    with pytest.raises(KeyError, match="no checkpoint called 'nope'"):
        pretrained.path("nope")


def _tiny_checkpoint(monkeypatch, tmp_path):
    """A registered checkpoint made of a small RealNVP, whose figure is a test NLL on fixed data."""
    data = gm.data.toy2d("moons", 512, seed=0)

    def measure(flow):
        with torch.no_grad():
            return -flow.log_prob(data).mean().item()

    tiny = pretrained.Checkpoint(
        "tiny", "gm_helpers.flows:Flow", "lectures/none.ipynb", "0", "NLL", measure, tolerance=1e-4
    )
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    monkeypatch.setitem(pretrained.CHECKPOINTS, "tiny", tiny)

    def train():
        flow = gm.flows.realnvp(2, transforms=2, hidden=(16,))
        history = gm.flows.train_flow(flow, data, steps=30, seed=0, progress=False)
        history.snapshots += [(10, torch.arange(4.0).view(2, 2)), (20, "not a tensor")]
        return flow, history

    return train, measure


def test_make_and_load_a_checkpoint(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GM_DEVICE", "cpu")
    train, measure = _tiny_checkpoint(monkeypatch, tmp_path)
    monkeypatch.setenv(pretrained.PRETRAIN_ENV, "1")
    made, made_history = pretrained.train_or_load("tiny", train, train=True)
    assert "saved" in capsys.readouterr().out
    info = checkpoint_info(tmp_path / "tiny.pt")
    assert info["figure"] == pytest.approx(measure(made), abs=1e-6)  # measured on the weights that ship
    assert info["made"]["notebook"] == "lectures/none.ipynb" and info["made"]["seconds"] >= 0

    monkeypatch.delenv(pretrained.PRETRAIN_ENV)
    loaded, history = pretrained.train_or_load("tiny", lambda: pytest.fail("must not train"), train=False)
    assert "loaded the pretrained 'tiny'" in capsys.readouterr().out
    assert measure(loaded) == pytest.approx(info["figure"], abs=1e-6)
    assert history["nll"] == made_history["nll"] and history.steps("nll") == list(range(1, 31))
    assert history.seconds == made_history.seconds > 0  # the training loop's wall-clock time travels along
    assert len(history.snapshots) == 1 and history.snapshots[0][0] == 10  # tensors travel, others not
    assert torch.equal(history.snapshots[0][1], torch.arange(4.0).view(2, 2))
    # parameters were stored in float16: the loaded weights are those values, in float32
    for p in loaded.parameters():
        assert p.dtype == torch.float32
        assert torch.equal(p, p.half().float())
    stored = torch.load(tmp_path / "tiny.pt", weights_only=True)["state"]
    assert {stored[name].dtype for name, _ in loaded.named_parameters()} == {torch.float16}


def test_half_keeps_buffers_exact(tmp_path):
    coding = gm.calorimeter.CaloWGAN(gm.data.calorimeter.simulate(64, seed=1), hidden=(8,), latent_features=4)
    coding.save(tmp_path / "m.pt", half=True)
    loaded = gm.calorimeter.CaloWGAN.load(tmp_path / "m.pt")
    for (name, b), (_, c) in zip(coding.named_buffers(), loaded.named_buffers(), strict=True):
        assert torch.equal(b, c), name
    for p, q in zip(coding.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(p.half().float(), q)


def test_missing_checkpoint_says_how_to_make_it(monkeypatch, tmp_path):
    _tiny_checkpoint(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="make pretrain"):
        pretrained.load("tiny")


def test_info_must_be_plain(tmp_path):
    """Plain values and tensors (what ``torch.load(weights_only=True)`` reads back), nothing else."""
    flow = gm.flows.realnvp(2, transforms=2, hidden=(8,))
    with pytest.raises(ValueError, match="plain values"):
        flow.save(tmp_path / "x.pt", info={"array": np.zeros(2)})
    flow.save(tmp_path / "x.pt", info={"grid": [(1, torch.zeros(2))]})
    assert torch.equal(checkpoint_info(tmp_path / "x.pt")["grid"][0][1], torch.zeros(2))
