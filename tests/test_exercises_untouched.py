"""An untouched exercise, run from top to bottom as a participant's "Run All" would: every cell
runs without a traceback, every check says what is left to do, and the last cell lists it."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_run_all_on_an_untouched_exercise_lists_what_is_left_to_do(path, monkeypatch):
    monkeypatch.setenv("GM_STRICT_CHECKS", "0")  # a participant's kernel: checks report, they do not raise
    monkeypatch.setenv("GM_QUICK", "1")
    nb = nbformat.read(path, as_version=4)
    where = {"metadata": {"path": str(path.parent)}}  # as Jupyter runs it: from its folder
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources=where)
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"a cell raised {errors[0].ename}: {errors[0].evalue}"
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "not attempted yet" in text, "the checks must say which answers are still to write"
    assert "Traceback" not in text
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "gm.checks.summary()" in last.source, "the last cell lists what is left to do"
    assert "answers done" in "".join(o.get("text", "") for o in last.outputs)
    echoes = [o["data"].get("text/plain") for o in outputs if o.output_type == "execute_result"]
    assert not [e for e in echoes if e in ("True", "False")], "a check cell echoes True/False"
