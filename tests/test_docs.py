"""The README stays a short guide whose links lead into the documentation, and the site builds
with warnings as errors (a broken reference or a public object without a docstring fails)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300


def test_readme_links_and_picture_exist():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", text)
    assert "docs/_static/confusion_matrix.png" in targets
    assert len(targets) > 10
    missing = [t for t in targets if not (REPO / t).is_file()]
    assert not missing


def test_every_user_guide_page_is_in_the_guide():
    guide = (REPO / "docs" / "user_guide" / "index.md").read_text(encoding="utf-8")
    pages = {p.stem for p in (REPO / "docs" / "user_guide").glob("*.md")} - {"index"}
    assert pages and all(f"\n{page}\n" in guide for page in pages)


@pytest.mark.slow
def test_the_documentation_builds_without_a_warning(tmp_path):
    # Here rather than before the suite in `make test`: the build overlaps other tests.
    pytest.importorskip("sphinx")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b",
                           "html", "docs", str(tmp_path / "html")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").is_file()
