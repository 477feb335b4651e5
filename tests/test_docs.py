"""The README stays a short guide whose links lead into the documentation (the site itself is
built with warnings as errors by ``make test``)."""

from __future__ import annotations

import re
from pathlib import Path

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
