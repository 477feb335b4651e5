"""Sphinx configuration of the urbansound documentation (``make docs``)."""

import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Importing the package for autodoc must not start anything heavy.
os.environ.setdefault("MPLBACKEND", "Agg")

from sphinx.util import logging  # noqa: E402

import pipeline  # noqa: E402

logger = logging.getLogger("urbansound.docs")

project = "urbansound"
author = "the urbansound authors"
release = pipeline.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "generated/benchmark_results.md"]
templates_path = ["_templates"]

# The API reference is generated from the package, so it follows its layout.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "undoc-members": True,  # so that a public function without a docstring is seen (GL08)
    "ignore-module-all": True,  # a re-exported name is documented once, where it is defined
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "none"
autodoc_mock_imports = ["torch"]

# The docstrings are numpydoc's format, rendered by Sphinx's own napoleon: numpydoc renders
# them through a Jinja template it compiles anew for every object, a slow build.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_param = False  # types as text: a type named like an attribute is no link
napoleon_use_rtype = False
napoleon_use_ivar = True  # an Attributes section beside autodoc's own attribute entries

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = "urbansound"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # The sidebar lists the current page's branch, not every page of the API reference on
    # every page: the theme's advice for autosummary sites ("Build performance and size").
    "collapse_navigation": True,
}


def _public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def _require_docstring(app, what, name, obj, options, lines):
    """Warn (an error under ``-W``) for a public function or class of the package without a
    docstring, where it is defined (the check numpydoc's validation calls GL08)."""
    home = name if what == "module" else getattr(obj, "__module__", None) or ""
    kinds = ("module", "function", "class", "method", "property", "exception")
    if what not in kinds or not _public(name):
        return
    if not home.startswith("pipeline") or not (name + ".").startswith(home + "."):
        return  # imported here, documented where it is defined
    if not (inspect.getdoc(obj) or "").strip():
        logger.warning("GL08: %s %s has no docstring", what, name,
                       type="docstring", subtype="missing")


def _stale_reference(app, env, node, contnode):
    """A page of the guide that names an object of the package which is not in the API
    reference (a module that moved, a function renamed) fails the build. Docstrings may name
    a re-exported object by its shorter path; those stay plain text."""
    target, doc = node.get("reftarget", ""), node.get("refdoc", "")
    if node.get("refdomain") == "py" and target.startswith("pipeline") \
            and not doc.startswith("generated/"):
        logger.warning("%s: %s is not in the API reference", doc, target,
                       location=node, type="ref", subtype="stale")
    return None


def _skip(app, what, name, obj, skip, options):
    # ``python -m pipeline`` runs the command line when imported.
    if what == "module" and name.endswith("__main__"):
        return True
    # scikit-learn's generated metadata-routing setters, documented by scikit-learn.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _benchmark_results(app):
    """Gather ``benchmarks/results/*.md`` (written by the scripts) for the Benchmarks page."""
    parts = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    text = "\n".join(p.read_text(encoding="utf-8") for p in parts) or (
        "No results in `benchmarks/results/` yet: run a script of `benchmarks/` (see above).\n")
    out = Path(app.srcdir) / "generated" / "benchmark_results.md"
    out.parent.mkdir(exist_ok=True)
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _benchmark_results)
    app.connect("autodoc-process-docstring", _require_docstring, priority=100)
    app.connect("autodoc-skip-member", _skip)
    app.connect("missing-reference", _stale_reference)
