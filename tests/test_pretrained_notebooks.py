"""Every notebook that uses a shipped checkpoint runs with TRAIN = False (the path a participant on a
CPU takes in full mode), here in quick mode: it loads the checkpoint, says so, and goes on."""

from __future__ import annotations

import nbformat
import pytest

from gm_helpers import notebooks

USERS = [p for p in notebooks.find_notebooks() if "train_or_load(" in p.read_text()]  # lectures, solutions


@pytest.mark.parametrize("notebook", USERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_runs_on_the_shipped_checkpoints(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("GM_DEVICE", "cpu")
    monkeypatch.setenv("GM_QUICK", "1")
    monkeypatch.setenv("GM_STRICT_CHECKS", "1")
    (run,) = notebooks.run_notebooks([notebook], quick=True, out_dir=tmp_path, parameters={"TRAIN": False})
    assert run.status == "ok", run.status
    cells = nbformat.read(run.output, as_version=4).cells
    text = "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)
    assert "loaded the pretrained" in text and "Set TRAIN = True to train it here" in text
