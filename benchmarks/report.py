"""Time and size of the HTML report of a full-size run (8732 generated clips).

Rewrites ``index.html`` of an existing ``urbansound run --workdir`` folder with
``urbansound report``'s stage function, on a local cluster of two workers (excerpts and
thumbnails run on it) and, as the peer, in one process (``sync``), and measures the page
with every file it links (``index.html``, ``doubted_labels.csv``, ``clips/``, ``figures/``).

    python benchmarks/report.py --work data/full [--repeat 2]

where ``data/full`` holds ``params.yaml`` and the run's folder ``run/`` (made with
``urbansound --params data/full/params.yaml run --workdir data/full/run``, 8732 clips).
Targets: the page with its files under 30 MB, written in under 30 s on 2 cores.
``--quick``: the report of the quick run of ``full_run.py`` (30 generated clips; its
``run-current`` folder, or a run made here when missing), once, in one process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import add_options, quick_clips, quick_folder, quick_params, save  # noqa: E402

TARGET_SECONDS = 30.0
TARGET_MB = 30.0
PAGE_FILES = ("index.html", "doubted_labels.csv", "clips", "figures")


def size_mb(path: Path) -> float:
    """Megabytes (10^6 bytes) of a file, or of every file below a folder."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="data/full", help="folder with params.yaml and run/")
    parser.add_argument("--repeat", type=int, default=2)
    add_options(parser, "the quick run of full_run.py (30 clips), once, in one process")
    args = parser.parse_args()

    from pipeline import stages
    from pipeline.cli import main as cli
    from pipeline.core.config import load_params

    runs = (("processes", 2), ("sync", 1))
    run = Path(args.work) / "run"
    if args.quick:
        args.work, args.repeat, runs = quick_folder() / "full_run", 1, (("sync", 1),)
        # full_run.py --quick's run (same folder, same params) when it was made, else one here.
        run = args.work / "run-current"
        if not (run / "reports" / "doubted_labels.csv").is_file():
            run = args.work / "run"
        if not (run / "reports" / "doubted_labels.csv").is_file():
            params = quick_params(args.work)
            if cli(["--params", str(params), "run", "--dataset", str(quick_clips()),
                    "--workdir", str(run), "--force"]):
                raise SystemExit("report --quick: urbansound run failed")
    work = Path(args.work)
    params = load_params(work / "params.yaml")
    reports = run / "reports"
    n_clips = sum(1 for _ in open(reports / "doubted_labels.csv")) - 1
    timings: dict[str, list[float]] = {"processes": [], "sync": []}
    summary = None
    for _ in range(args.repeat):
        for scheduler, workers in runs:
            start = time.perf_counter()
            result = stages.report(reports, params=params, scheduler=scheduler, workers=workers)
            timings[scheduler].append(round(time.perf_counter() - start, 2))
            summary = result.summary
    sizes = {name: round(size_mb(reports / name), 2) for name in PAGE_FILES}
    page_mb = round(sum(sizes.values()), 2)
    if args.quick:
        timings["processes"] = timings["sync"]
    best = min(timings["processes"])
    ratio = round(min(timings["sync"]) / best, 2)
    figures = {
        "clips_cross_validated": n_clips,
        "seconds_two_workers": timings["processes"],
        "seconds_one_process": timings["sync"],
        "one_process_over_two_workers": ratio,
        "page_mb": page_mb,
        "sizes_mb": sizes,
        "clips_listed": summary.clips,
        "clips_with_excerpt": summary.with_audio,
        "clips_per_cell": summary.cell_cap,
        "seconds_over_target": round(best / TARGET_SECONDS, 3),
        "mb_over_target": round(page_mb / TARGET_MB, 3),
    }
    text = (f"The report of a run on {n_clips} clips: {page_mb} MB with its files "
            f"({page_mb / TARGET_MB:.2f} of the 30 MB bound), written in {best:.1f} s on a "
            f"local cluster of two workers ({best / TARGET_SECONDS:.2f} of the 30 s bound); "
            f"one process takes {ratio}x as long.")
    table = [["what", "value"], ["clips listed (excerpt + thumbnail)", summary.clips],
             ["clips per confusion cell", summary.cell_cap],
             *[[f"{name}, MB", mb] for name, mb in sizes.items()],
             ["page with its files, MB", page_mb],
             ["seconds, 2 workers", ", ".join(map(str, timings["processes"]))],
             ["seconds, 1 process", ", ".join(map(str, timings["sync"]))]]
    print(text)
    for row in table[1:]:
        print(f"  {row[0]:38s} {row[1]}")
    save(args, "report", figures, summary=text, table=table)


if __name__ == "__main__":
    main()
