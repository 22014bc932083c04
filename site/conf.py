"""Sphinx configuration of the course website (``make site``).

The sources are not here: ``make site`` executes every notebook in quick mode into
``build/site-src/`` (site/execute.py), writes its ``index.md`` from the README's syllabus
(site/make_index.py) and runs ``sphinx-build -c site build/site-src build/site/html``.
Notebooks are rendered with the outputs of that run, never executed again by Sphinx.
Every asset is local: the theme's, MathJax (sphinx-mathjax-offline), no widget JavaScript from a CDN.
"""

project = "Generative Models for Physics"
author = "the course authors"
copyright = "MIT licence (code); lecture text after M. Barbetti and F. Vaselli, 3rd ML-INFN Hackathon"

extensions = ["myst_nb", "sphinx-mathjax-offline"]

# the notebooks were executed by site/execute.py (papermill, quick mode): render their outputs as they are
nb_execution_mode = "off"
nb_execution_raise_on_error = True
# widgets (the sliders of lecture 00) would need require.js and the widget manager from a CDN:
# their static text fallback is shown instead
nb_ipywidgets_js = {}
nb_merge_streams = True

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# Jupyter renders $$...$$ inside a paragraph as display math: so does the site
myst_dmath_double_inline = True

exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "Generative Models for Physics"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
    # the landing page's syllabus table gets the whole width
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
}
