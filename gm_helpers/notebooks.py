"""Course tooling: run notebooks headless (papermill) and generate exercises from solutions (nbgrader)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["NotebookRun", "find_notebooks", "generate_exercises", "run_notebooks", "stale_exercises"]

ROOT = Path(__file__).resolve().parent.parent
RUN_DIRS = ("lectures", "solutions")
EXECUTED_DIR = ROOT / "build" / "executed"


def find_notebooks(paths: list[str | Path] | None = None, root: Path = ROOT) -> list[Path]:
    """Notebooks named by ``paths`` (files or folders); by default every lecture and solution."""
    paths = [Path(p) for p in paths] if paths else [root / d for d in RUN_DIRS]
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*.ipynb")))
        elif path.suffix == ".ipynb" and path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path} is neither a notebook nor a folder of notebooks")
    return found


@dataclass
class NotebookRun:
    notebook: Path
    status: str  # "ok" or the error's first line
    seconds: float
    output: Path


def run_notebooks(
    notebooks: list[Path],
    quick: bool,
    out_dir: Path = EXECUTED_DIR,
    kernel_name: str = "python3",
    timeout: int | None = None,
    strict: bool = True,
    parameters: dict | None = None,
) -> list[NotebookRun]:
    """Execute each notebook with papermill (``QUICK`` parameter and ``GM_QUICK`` set to ``quick``)
    into ``out_dir``, one after the other. Returns one record each.

    With ``strict`` (lectures, solutions) a check that does not pass fails the notebook; without it
    (an untouched exercise, run as a participant's "Run All") checks report instead of raising.
    ``parameters``: more values for the notebooks' ``parameters`` cells (e.g. ``{"TRAIN": True}``)."""
    import papermill

    os.environ["GM_QUICK"] = "1" if quick else "0"
    os.environ["GM_STRICT_CHECKS"] = "1" if strict else "0"
    runs = []
    for notebook in notebooks:
        notebook = notebook.resolve()
        output = out_dir / notebook.parent.name / notebook.name
        output.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters={"QUICK": quick, **(parameters or {})},
                kernel_name=kernel_name,
                cwd=str(notebook.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
            status = "ok"
        except Exception as error:  # noqa: BLE001 - reported in the table, the run goes on
            status = "FAILED: " + (str(error).strip().splitlines() or [type(error).__name__])[-1]
        runs.append(NotebookRun(notebook, status, time.perf_counter() - start, output))
        print(
            f"{notebook.relative_to(ROOT) if notebook.is_relative_to(ROOT) else notebook}: "
            f"{status} ({runs[-1].seconds:.1f} s)",
            flush=True,
        )
    return runs


def format_table(runs: list[NotebookRun]) -> str:
    """A Markdown table: notebook, status, seconds."""
    lines = ["| notebook | status | seconds |", "|---|---|---:|"]
    for run in runs:
        name = run.notebook.relative_to(ROOT) if run.notebook.is_relative_to(ROOT) else run.notebook
        lines.append(f"| {name} | {run.status} | {run.seconds:.1f} |")
    return "\n".join(lines)


# What JupyterLab writes into a notebook it opens with the course kernel (ipykernel's "python3"):
# committed notebooks carry exactly this, so that they open without unsaved changes.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info() -> dict:
    """The ``language_info`` metadata ipykernel reports for the course's Python."""
    return {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": platform.python_version(),
    }


def as_jupyterlab_writes(nb):
    """``nb`` with the metadata JupyterLab writes for the course kernel (see ``KERNELSPEC``)."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = language_info()
    return nb


def _exercise_from_solution(solution: Path):
    from nbconvert.preprocessors import ClearOutputPreprocessor

    try:
        from nbgrader.preprocessors import ClearSolutions
    except ImportError:
        raise ImportError(
            "generating exercises needs nbgrader, an instructor's tool: pip install -e '.[instructor]' "
            "(make venv installs it)"
        ) from None

    nb = nbformat.read(solution, as_version=4)
    nb, resources = ClearSolutions(enforce_metadata=False).preprocess(nb, {})
    nb, _ = ClearOutputPreprocessor().preprocess(nb, resources)
    return as_jupyterlab_writes(nb)


def _expected_exercises(root: Path) -> dict[Path, str]:
    return {
        root / "exercises" / solution.name: nbformat.writes(_exercise_from_solution(solution)) + "\n"
        for solution in sorted((root / "solutions").glob("*.ipynb"))
    }


def generate_exercises(root: Path = ROOT) -> list[Path]:
    """Write exercises/ from solutions/: each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block
    becomes a stub that raises ``NotImplementedError`` (nbgrader's ClearSolutions); outputs are
    cleared. Exercises whose solution is gone are removed. Returns the files written."""
    expected = _expected_exercises(root)
    (root / "exercises").mkdir(exist_ok=True)
    for orphan in set((root / "exercises").glob("*.ipynb")) - set(expected):
        orphan.unlink()
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
    return list(expected)


def stale_exercises(root: Path = ROOT) -> list[str]:
    """What is out of date in exercises/ (empty when it matches solutions/)."""
    expected = _expected_exercises(root)
    problems = [
        f"{path.relative_to(root)} is missing"
        if not path.exists()
        else f"{path.relative_to(root)} differs from what solutions/{path.name} generates"
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    problems += [
        f"{path.relative_to(root)} has no solution notebook"
        for path in sorted((root / "exercises").glob("*.ipynb"))
        if path not in expected
    ]
    return problems
