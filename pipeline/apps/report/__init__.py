"""The HTML report of a run: ``index.html`` to look at and listen to, beside the other reports.

:func:`write_report` renders the comparison of a cross-validation with what else a run
left (feature store, submission, tuning, detection) into a page that opens from the file
system. Modules: :mod:`.page` (the page and its files), :mod:`.selection` (doubted labels,
the clips of every confusion cell), :mod:`.media` (excerpts and thumbnails, on the engine),
:mod:`.sources` (what it reads besides the reports), :mod:`.figures` (PNGs).
"""

from pipeline.apps.report.page import (
    DOUBTED_CSV,
    INDEX,
    PAGE_FILES,
    ReportSummary,
    render,
    write_report,
)
from pipeline.apps.report.sources import Sources

__all__ = ["DOUBTED_CSV", "INDEX", "PAGE_FILES", "ReportSummary", "Sources", "render",
           "write_report"]
