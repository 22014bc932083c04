"""Check the built website offline: every relative link and asset of every page must exist.

    python site/check_links.py build/site/html

For each HTML page, every ``href``/``src`` (and ``srcset``) that is relative must name an existing
file, and its ``#anchor``, if any, an ``id`` (or ``name``) in the target page. Scripts, style sheets
and images must be local: a page that would fetch one from another site (a CDN) is an error too.
Links to other sites (``<a href="https://...">``) are not followed: no network. Exits 1 on any problem.
"""

from __future__ import annotations

import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ASSET_TAGS = {"script", "link", "img", "source", "iframe", "video", "audio", "embed"}


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.links.append((tag, key, attrs[key]))
        if attrs.get("srcset"):
            for part in attrs["srcset"].split(","):
                if part.strip():
                    self.links.append((tag, "srcset", part.split()[0]))


@cache
def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def site_pages(root: Path) -> list[Path]:
    """The pages of the site (not the theme's templates that Sphinx copies into _static/)."""
    skip = ("_static", "_sources")
    return sorted(p for p in root.rglob("*.html") if p.relative_to(root).parts[0] not in skip)


def problems(root: Path) -> list[str]:
    root = root.resolve()
    found = []
    pages = site_pages(root)
    if not pages:
        return [f"no HTML page under {root}"]
    for path in pages:
        where = path.relative_to(root)
        for tag, attribute, value in parse(path).links:
            url = urlsplit(value.strip())
            if url.scheme in ("mailto", "tel", "javascript", "data"):
                continue
            if url.scheme or url.netloc:
                if tag in ASSET_TAGS and url.netloc:
                    found.append(f"{where}: <{tag} {attribute}={value!r}> fetches from another site")
                continue
            target = path if not url.path else (path.parent / unquote(url.path)).resolve()
            if url.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root):
                found.append(f"{where}: {value!r} points outside the site")
            elif not target.exists():
                found.append(f"{where}: {value!r} -> missing {target.relative_to(root)}")
            elif url.fragment and target.suffix == ".html":
                anchor = unquote(url.fragment)
                if anchor not in parse(target).ids:
                    found.append(f"{where}: {value!r} -> no anchor #{anchor} in {target.relative_to(root)}")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "build/site/html")
    found = problems(root)
    for problem in found:
        print(problem)
    pages = len(site_pages(root))
    print(f"{pages} pages checked, {len(found)} broken internal links or external assets")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
