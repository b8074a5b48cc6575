"""Sphinx configuration of the mmlearn documentation site.

Build it (offline, warnings as errors, as CI does) from the repository root::

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The user guide is the Markdown pages of ``docs/`` (read by myst-parser), the API reference
is generated from the public docstrings (autosummary + numpydoc), and the gallery runs every
``examples/plot_*.py`` script during the build (sphinx-gallery) and shows its figures.
"""

import re
import sys
from pathlib import Path

import matplotlib

# The gallery scripts draw with pyplot; the build runs with no display.
matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a plain checkout builds too, without an editable install

import mmlearn  # noqa: E402

project = "mmlearn"
author = "mmlearn developers"
copyright = "mmlearn developers"  # noqa: A001 (Sphinx's name for it)
release = mmlearn.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.md5", "auto_examples/*.codeobj.json"]

# -- Markdown (the user guide) ----------------------------------------------------------------
# Pages link to each other's sections as [text](page.md#a-heading): give every heading
# down to level 4 the anchor GitHub would give it, so the same links work on both.
myst_heading_anchors = 4

# -- API reference ----------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc shows the documented types; signatures stay readable
# The class template lists each class's own methods itself (_templates/class.rst):
# numpydoc's member tables would ask for a page per inherited scikit-learn method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Types stay plain text: numpydoc's type links point into Python's and NumPy's docs, which
# an offline build (no intersphinx) cannot resolve.
numpydoc_xref_param_type = False

# -- Gallery ----------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Each API page lists the gallery examples that use the object (the templates include it).
    "backreferences_dir": "auto_examples/backreferences",
    "doc_module": ("mmlearn",),
    "reference_url": {"mmlearn": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    # A gallery script that raises fails the build (with -W it would anyway; this says why).
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 0,
    "reset_modules_order": "both",
}

# -- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"mmlearn {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # No version switcher, analytics or remote icons: the site builds and reads offline.
    "icon_links": [],
}
html_sidebars = {"index": [], "auto_examples/index": []}
html_show_sourcelink = False


# A shape in a type, "ndarray of shape (n_features_in_,)", names a fitted attribute; in reST a
# word ending in "_" is a hyperlink reference, an error with no target. Escape the underscore
# in shapes only, after numpydoc has turned the docstring into reST, so the docstrings keep
# the scikit-learn spelling.
_SHAPE = re.compile(r"\(([^()]*)\)")
_ATTRIBUTE_END = re.compile(r"(?<=\w)_(?=\W|$)")


def _escape_shape_attributes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "shape (" in line:
            lines[i] = _SHAPE.sub(
                lambda m: "(" + _ATTRIBUTE_END.sub(r"\\_", m.group(1)) + ")", line)


# The user guide's table of contents is every Markdown page of docs/ except the home page
# and the guide itself, the ones user_guide.md names first, then the rest A to Z: a page
# added to docs/ is listed with no edit anywhere. (A toctree glob cannot leave out the home
# page, which holds the guide: that would be a circular table of contents.)
_NOT_IN_GUIDE = {"index", "user_guide"}


def _guide_pages(app, named: list[str]) -> list[str]:
    # The pages Sphinx found (not a fresh directory listing), so that the list always agrees
    # with what this build reads.
    pages = sorted(d for d in app.env.found_docs
                   if "/" not in d and Path(app.srcdir, f"{d}.md").is_file())
    return [p for p in pages if p not in _NOT_IN_GUIDE and p not in named]


def _fill_user_guide(app, docname, source):
    if docname != "user_guide":
        return
    # The toctree ends with its last named entry and the closing fence; add the rest there.
    head, sep, tail = source[0].rpartition("\n```")
    named = [line.strip() for line in head.split("```{toctree}")[1].splitlines()
             if line.strip() and not line.strip().startswith(":")]
    source[0] = head + "\n" + "\n".join(_guide_pages(app, named)) + sep + tail


def _reread_user_guide(app, env, added, changed, removed):
    # A page added or removed changes the guide's list, though user_guide.md did not change.
    return ["user_guide"] if added or removed else []


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_<method>_request on every estimator, with its own docstring
    # that points into scikit-learn's glossary; it is scikit-learn's API, not mmlearn's.
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("source-read", _fill_user_guide)
    app.connect("env-get-outdated", _reread_user_guide)
    # numpydoc's own handler runs at the default priority (500); this one after it.
    app.connect("autodoc-process-docstring", _escape_shape_attributes, priority=600)
