"""Write the website's landing page from README.md: the course description and the syllabus.

    python site/make_index.py README.md build/site-src/index.md

The syllabus table links each written section to its lecture, exercise and solution page;
planned sections stay plain text. One hidden toctree per section (00, 01, ...) orders the
sidebar: lecture, exercise, solution.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = (("lectures", "Lecture"), ("exercises", "Exercise"), ("solutions", "Solution"))


def readme_parts(readme: str) -> tuple[str, str, list[list[str]], str]:
    """The title, the description (before the first ##), the syllabus rows, the note after the table."""
    title = readme.splitlines()[0].lstrip("# ").strip()
    description = readme.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    syllabus = readme.split("\n## Syllabus\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in syllabus.strip().splitlines()]
    table = [line for line in lines if line.startswith("|")]
    note = "\n".join(line for line in lines if line.strip() and not line.startswith("|"))
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table[2:]]
    return title, description, rows, note


def notebook_title(path: Path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return re.sub(r"^((Lecture|Exercise)\s+)?\d+\s*·\s*", "", line[2:].strip())
    return path.stem


def describe(cell: str) -> str:
    """A README cell without its leading `notebook`: name."""
    return re.sub(r"^`[^`]+`:\s*", "", cell)


def main(readme_path: str, out_path: str) -> int:
    title, description, rows, note = readme_parts(Path(readme_path).read_text(encoding="utf-8"))
    note = re.sub(r"\s*\(quality figures[^)]*\)", "", note)
    out = [f"# {title}", "", description, ""]
    out += [
        "This website shows every notebook of the course executed in **quick mode** (tiny data, few",
        "training steps), so figures are rough; run `make lab` for the real thing.",
        "Each section has a lecture, an exercise (as handed out, run untouched: its checks say",
        "what is left to do) and the exercise's solution.",
        "",
        "## Syllabus",
        "",
        "| NN | section | lecture | exercise | solution | time budget |",
        "|---|---|---|---|---|---|",
    ]
    toctrees = []
    for nn, section, lecture, exercise, budget in (row[:5] for row in rows):
        found = {kind: sorted((ROOT / kind).glob(f"{nn}_*.ipynb")) for kind, _ in KINDS}
        if not all(found.values()):
            out.append(f"| {nn} | {section} | {describe(lecture)} | {describe(exercise)} | | {budget} |")
            continue
        link = {kind: f"{kind}/{found[kind][0].name}" for kind, _ in KINDS}
        out.append(
            f"| {nn} | {section} | [Lecture {nn}]({link['lectures']}): {describe(lecture)} "
            f"| [Exercise {nn}]({link['exercises']}): {describe(exercise)} "
            f"| [Solution {nn}]({link['solutions']}) | {budget} |"
        )
        entries = [
            f"{label}: {notebook_title(found[kind][0])} <{link[kind].removesuffix('.ipynb')}>"
            for kind, label in KINDS
        ]
        toctrees += ["```{toctree}", ":hidden:", f":caption: {nn} · {section}", "", *entries, "```", ""]
    out += ["", note, "", *toctrees]
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text("\n".join(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
