"""Execute every notebook of the course in quick mode into a folder that Sphinx renders.

Lectures and solutions go through the course's own runner (``gm_helpers.notebooks.run_notebooks``:
papermill, ``QUICK=True``, strict checks); exercises are run untouched as a participant's "Run All"
would (checks report "not attempted" instead of raising). Any failure fails the build.

The executed copies are then made static for the website: a widget (``interact`` and its sliders)
is replaced by the outputs it holds at its initial values and a line naming its controls, since
the widget JavaScript would come from a CDN; papermill's injected parameters cell is hidden; display
math (``$$...$$`` on lines of its own) inside a paragraph gets blank lines around it, as Jupyter
shows it, so that a line of the formula starting with ``+`` or ``-`` is not read as a list item.

    python site/execute.py --out build/site-src
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("lectures", "exercises", "solutions")


DISPLAY_MATH = re.compile(r"(?m)^([ \t]*)(\$\$[^$]+?\$\$)[ \t]*$")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _static_widget(view: dict, state: dict) -> list[dict]:
    """The outputs shown by the widget ``view`` (its Output widgets') and a line naming its controls."""
    controls, outputs = [], []

    def walk(model_id: str) -> None:
        model = state.get(model_id, {})
        values = model.get("state", {})
        if model.get("model_name") == "OutputModel":
            outputs.extend(values.get("outputs", []))
        elif "value" in values and values.get("description"):
            controls.append(f"{values['description']} = {values['value']}")
        for child in values.get("children", []):
            walk(child.removeprefix("IPY_MODEL_"))

    walk(view["model_id"])
    note = "*Interactive in JupyterLab"
    note += f" ({', '.join(controls)}); shown here at these values.*" if controls else ".*"
    return [{"output_type": "display_data", "metadata": {}, "data": {"text/markdown": note}}, *outputs]


def make_static(path: Path) -> None:
    """Prepare an executed notebook for the website (see the module's docstring)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    widgets = nb.metadata.pop("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        if cell.cell_type == "markdown":
            cell.source = DISPLAY_MATH.sub(r"\n\1\2\n", cell.source)
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            view = output.get("data", {}).get(WIDGET_VIEW)
            outputs.extend(_static_widget(view, state) if view else [output])
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site-src")
    parser.add_argument("sections", nargs="*", help="lectures, exercises, solutions (default: all)")
    args = parser.parse_args(argv)
    args.sections = args.sections or list(SECTIONS)
    if set(args.sections) - set(SECTIONS):
        parser.error(f"sections are {', '.join(SECTIONS)}")
    out = args.out.resolve()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from gm_helpers.notebooks import find_notebooks, run_notebooks

    folders = [ROOT / s for s in args.sections if s != "exercises"]
    course = find_notebooks(folders) if folders else []
    exercises = sorted((ROOT / "exercises").glob("*.ipynb")) if "exercises" in args.sections else []
    runs = run_notebooks(course, quick=True, out_dir=out) if course else []
    runs += run_notebooks(exercises, quick=True, out_dir=out, strict=False) if exercises else []
    failed = [f"{run.notebook.relative_to(ROOT)}: {run.status}" for run in runs if run.status != "ok"]
    for section in args.sections:
        for path in sorted((out / section).glob("*.ipynb")):
            make_static(path)
    if failed:
        print("notebooks that failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
