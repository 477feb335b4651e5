"""Headless Chromium (Debian's ``chromium``) for the HTML report's tests: the DOM it renders
from a ``file://`` page, a screenshot, and a small parser of the rendered DOM."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    """The browser's executable; the test is skipped where it is not installed
    (``.ci/run`` installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180, check=True)


def rendered_dom(page: Path) -> str:
    """The DOM of ``page`` once Chromium has loaded it from the file system."""
    return _run("--dump-dom", page.resolve().as_uri()).stdout


def screenshot(page: Path, out: Path, size: tuple[int, int] = (1280, 2400)) -> Path:
    """A PNG of ``page`` as Chromium draws it, ``size`` pixels (width, height)."""
    _run(f"--window-size={size[0]},{size[1]}", f"--screenshot={out.resolve()}",
         page.resolve().as_uri())
    return out


class Dom(HTMLParser):
    """What the report's tests read from a rendered DOM.

    Attributes
    ----------
    sources : list of (tag, attributes)
        Every ``img``, ``audio``, ``source``, ``script``, ``link`` and ``a`` element.
    cells : dict of (model, actual, predicted) to (data-count, text)
        The confusion tables' cells.
    doubted : list of (id, probability)
        The rows of the doubted list, in page order.
    ids : set of str
        Every element id.
    """

    def __init__(self, text: str):
        super().__init__()
        self.sources: list[tuple[str, dict]] = []
        self.cells: dict[tuple[str, str, str], tuple[int, str]] = {}
        self.doubted: list[tuple[str, float]] = []
        self.ids: set[str] = set()
        self._cell: tuple | None = None
        self._text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("img", "audio", "source", "script", "link", "a", "iframe", "video"):
            self.sources.append((tag, a))
        if tag == "td" and "data-count" in a:
            self._cell = (a["data-model"], a["data-actual"], a["data-predicted"],
                          int(a["data-count"]))
            self._text = []
        if tag == "tr" and "data-probability" in a:
            self.doubted.append((a["data-id"], float(a["data-probability"])))

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            model, actual, predicted, count = self._cell
            self.cells[(model, actual, predicted)] = (count, "".join(self._text).strip())
            self._cell = None


def check_page(reports: Path) -> Dom:
    """Render ``reports/index.html`` in Chromium and check what every page must hold:
    every picture and player points at a file inside the reports folder, nothing is
    fetched from elsewhere, the confusion tables hold the counts of ``predictions.csv``
    and link to lists that exist, and the doubted list is sorted by probability."""
    dom = Dom(rendered_dom(reports / "index.html"))
    root = reports.resolve()
    media = [(tag, a) for tag, a in dom.sources if tag in ("img", "audio", "source", "video")]
    assert any(tag == "img" for tag, _ in media)
    for tag, a in media:
        target = (root / a["src"]).resolve()
        assert target.is_file() and target.is_relative_to(root), (tag, a["src"])
        if tag == "audio":
            assert a["preload"] == "none" and "controls" in a
    assert not [a for tag, a in dom.sources if tag in ("script", "link", "iframe")
                and (a.get("src") or a.get("href"))]  # nothing loaded from elsewhere
    for tag, a in dom.sources:
        href = a.get("href", "")
        if tag == "a" and href.startswith("#"):
            assert href[1:] in dom.ids, href
        elif tag == "a":
            assert (root / href).resolve().is_relative_to(root) and ":" not in href, href
    for model in (p.parent.name for p in (reports / "cv").glob("*/predictions.csv")):
        preds = pd.read_csv(reports / "cv" / model / "predictions.csv", dtype=str)
        counts = preds.groupby(["actual", "predicted"]).size()
        shown = {(a, p): n for (m, a, p), (n, _) in dom.cells.items() if m == model}
        assert {k: n for k, n in shown.items() if n} == counts.to_dict()
        # The count shown is the count; a count's link to its list was checked above.
        assert all(text == (str(n) if n else "·")
                   for (m, _, _), (n, text) in dom.cells.items() if m == model)
    probabilities = [p for _, p in dom.doubted]
    assert probabilities and probabilities == sorted(probabilities)
    worklist = pd.read_csv(reports / "doubted_labels.csv", dtype={"id": str})
    assert [i for i, _ in dom.doubted] == list(worklist["id"][: len(dom.doubted)])
    return dom
