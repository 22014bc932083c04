"""The course website (``make site``): skipped unless build/site/html was built.

Every notebook has a page with its executed outputs, the landing page's syllabus links to every
written section, and no page has a broken internal link or fetches an asset from another site."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "build" / "site" / "html"
SECTIONS = ("lectures", "exercises", "solutions")
NOTEBOOKS = sorted(p for section in SECTIONS for p in (ROOT / section).glob("*.ipynb"))

pytestmark = pytest.mark.skipif(
    not (HTML / "index.html").exists(), reason="the website is not built (make site)"
)


def _page(notebook: Path) -> Path:
    return HTML / notebook.parent.name / f"{notebook.stem}.html"


def _check_links():
    spec = importlib.util.spec_from_file_location("check_links", ROOT / "site" / "check_links.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_has_a_page_with_its_outputs(notebook):
    page = _page(notebook)
    assert page.exists(), f"{notebook.relative_to(ROOT)} has no page: run make site again"
    text = page.read_text(encoding="utf-8")
    assert 'class="cell_output' in text, f"{page.name} shows no executed output"
    assert 'class="output traceback' not in text, f"{page.relative_to(HTML)} shows a traceback"


def test_syllabus_links_every_written_section():
    index = (HTML / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#]+\.html)(?:#[^"]*)?"', index))
    for notebook in NOTEBOOKS:
        href = f"{notebook.parent.name}/{notebook.stem}.html"
        assert href in links, f"the syllabus does not link {href}"
        assert (HTML / href).exists()


def test_lecture_00_shows_its_figures():
    text = _page(ROOT / "lectures" / "00_generative_modeling.ipynb").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]*src="([^"]+\.png)"', text)
    assert images, "lecture 00 shows no figure"
    for src in images:
        assert (HTML / "lectures" / src).resolve().exists(), src


def test_exercise_pages_say_what_is_left_to_do():
    for notebook in sorted((ROOT / "exercises").glob("*.ipynb")):
        assert "not attempted yet" in _page(notebook).read_text(encoding="utf-8"), notebook.name


def test_no_broken_internal_link_and_no_external_asset():
    problems = _check_links().problems(HTML)
    assert not problems, "\n".join(problems[:20])
