"""The ``urbansound`` command: parse arguments, call one stage function, print its result.

The stages (:mod:`pipeline.stages`) are imported only once the signal handlers are set, so
``urbansound --help`` is fast and a Ctrl-C in the first moments is one line too. A
:class:`~pipeline.core.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import InputError, UserError
from pipeline.core.model_names import MODEL_NAMES

if TYPE_CHECKING:
    from pipeline.core.config import Params

#: What a command's handler returns: a result (main prints its report and, for a stage, the
#: closing line) or an exit code (the handler printed what it had to).
Outcome = Any


#: The modules whose functions a command's local worker processes run: imported by the
#: process the workers fork from while the command imports its own
#: (:func:`pipeline.engine.cluster.start_worker_server`).
_SYNTH_TASKS = ("pipeline.datasets.synth.write",)
_CLIP_TASKS = ("pipeline.store.extract",)
_FIT_TASKS = ("pipeline.evaluation.cv",)
WORKER_MODULES = {
    "synth": _SYNTH_TASKS, "prepare": _SYNTH_TASKS, "features": _CLIP_TASKS,
    "train": _FIT_TASKS, "evaluate": _FIT_TASKS, "tune": _FIT_TASKS, "submit": _CLIP_TASKS,
    "detect": ("pipeline.apps.detect.windows",), "report": ("pipeline.apps.report.media",),
    "run": (*_SYNTH_TASKS, *_CLIP_TASKS, *_FIT_TASKS),
}  # fmt: skip


def _start_worker_server(args: argparse.Namespace, params: Params) -> None:
    """Start the process of :data:`WORKER_MODULES` when the command runs local workers."""
    from pipeline.engine.scheduler_names import parse_scheduler

    if args.command not in WORKER_MODULES or (args.command == "report" and not args.scheduler):
        return  # report computes in its own process unless told where (pipeline.stages.report)
    if args.command == "synth":  # more than one worker: a local cluster
        workers = params.parallel.workers if args.workers is None else args.workers
        if not (isinstance(workers, int) and workers > 1):
            return
    elif parse_scheduler(getattr(args, "scheduler", None) or params.parallel.scheduler).kind \
            != "processes":
        return
    from pipeline.engine.cluster import start_worker_server

    start_worker_server(WORKER_MODULES[args.command])


def _stages():
    """:mod:`pipeline.stages`, imported on first use (see the module docstring)."""
    from pipeline import stages

    return stages


def _done(name: str, result, seconds: float) -> str:
    """The one line that ends a stage: what it produced and how long it took."""
    return f"{name} done in {seconds:.1f} s: {result.produced}"


def _cmd_synth(args: argparse.Namespace, params: Params) -> Outcome:
    if args.scene is None and args.out is None:
        raise UserError("give an output folder: 'synth OUT' (clips) or 'synth --scene OUT'")
    if args.scene is not None and args.out is not None:
        raise UserError("give either OUT (clips) or --scene OUT (long recordings), not both")
    if args.scene is not None:
        return _stages().synth_scenes(args.scene, params=params, minutes=args.minutes,
                                   files=args.files, seed=args.seed, force=args.force)
    return _stages().synth(args.out, params=params, layout=args.layout, clips=args.clips,
                        seed=args.seed, workers=args.workers, force=args.force)


def _cmd_prepare(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().prepare(args.out, params=params, dataset=args.dataset, test=args.test,
                          force=args.force)


def _cmd_features(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().features(args.dataset, args.out, params=params,
                           scheduler=args.scheduler, workers=args.workers,
                           dashboard=args.dashboard, batch_size=args.batch_size,
                           force=args.force)


def _cmd_models(args: argparse.Namespace, params: Params) -> int:
    from pipeline.models.registry import describe, markdown_table

    print(markdown_table() if args.markdown else describe(_stages().train_params(params)))
    return 0


def _cmd_train(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().train(args.features, args.out, params=params, model=args.model,
                           reports=args.reports, with_cv=args.cv, scheduler=args.scheduler,
                           workers=args.workers, dashboard=args.dashboard, force=args.force)


def _cmd_evaluate(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().evaluate(args.features, args.reports, params=params, model=args.model,
                           scheduler=args.scheduler, workers=args.workers,
                           dashboard=args.dashboard, no_summary=args.no_summary,
                           summary_only=args.summary_only, force=args.force)


def _cmd_report(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().report(args.reports, params=params, features=args.features,
                         submission=args.submission, detect=args.detect,
                         scheduler=args.scheduler, workers=args.workers, force=args.force)


def _cmd_tune(args: argparse.Namespace, params: Params) -> Outcome:
    from pipeline.core.config import DEFAULT_PARAMS_FILE

    return _stages().tune(args.model, params=params, features=args.features,
                       reports=args.reports, scheduler=args.scheduler,
                       workers=args.workers, dashboard=args.dashboard,
                       apply_to=(args.params or DEFAULT_PARAMS_FILE) if args.apply
                       else None, force=args.force)


def _cmd_submit(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().submit(params=params, model=args.model, test=args.test,
                         features=args.features, models=args.models, out=args.out,
                         answers=args.answers, force=args.force)


def _cmd_predict(args: argparse.Namespace, params: Params) -> int:
    result = _stages().predict(args.paths, params=params, models=args.models, model=args.model)
    for line in result.lines(json_lines=args.json):
        print(line)
    return 0


def _cmd_detect(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().detect(args.paths, params=params, models=args.models, out=args.out,
                         answers=args.answers, model=args.model, window=args.window,
                         hop=args.hop, threshold=args.threshold, gate_db=args.gate_db,
                         scheduler=args.scheduler, workers=args.workers,
                         force=args.force)


def _cmd_score(args: argparse.Namespace, params: Params) -> Outcome:
    return _stages().score(args.submission, args.answers)


def _heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def _cmd_run(args: argparse.Namespace, params: Params) -> Outcome:
    clock: dict[str, float] = {}

    def started(name: str) -> None:
        _heading(name)
        clock[name] = time.perf_counter()

    def finished(name: str, stage_result) -> None:
        print(stage_result.text())
        print(_done(name, stage_result, time.perf_counter() - clock[name]), flush=True)

    result = _stages().run(params=params, dataset=args.dataset, workdir=args.workdir,
                        scheduler=args.scheduler, workers=args.workers,
                        dashboard=args.dashboard, started=started, finished=finished,
                        force=args.force)
    _heading("done")
    return result


def _engine_options(p: argparse.ArgumentParser, *, dashboard: bool = True) -> None:
    """Where the command's tasks run (default: the ``parallel`` section of the params)."""
    p.add_argument("--scheduler", default=None, help="sync | threads | processes | tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=None)
    if dashboard:
        p.add_argument("--dashboard", action="store_true", help="print the Dask dashboard's link")


def _store_and_models(p: argparse.ArgumentParser) -> None:
    """``--features`` and ``--model`` (a registry name or ``all``) of the model commands."""
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--model", choices=(*MODEL_NAMES, "all"), default="all", metavar="NAME",
                   help="%(choices)s (default: %(default)s)")


def _command(sub, name: str, handler, help: str, *, force: bool = True):
    """The parser of subcommand ``name``, run by ``handler``; a command that writes files
    takes ``--force``, the one way to replace files the tool did not write."""
    p = sub.add_parser(name, help=help)
    p.set_defaults(handler=handler)
    if force:
        p.add_argument("--force", action="store_true",
                       help="replace output files that urbansound did not write (default: refuse)")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (the commands of the README and the user guide)."""
    parser = argparse.ArgumentParser(
        prog="urbansound",
        description="Urban sound classification: dataset → features → models → submission.",
    )
    parser.add_argument(
        "--params", default=None, help="parameters file (default: ./params.yaml if present)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(sub, "synth", _cmd_synth, "generate the embedded UrbanSound8K-shaped dataset")
    p.add_argument("out", nargs="?", default=None, help="output folder (clips)")
    p.add_argument("--scene", default=None, metavar="OUT",
                   help="write long recordings with annotated events to OUT instead of clips")
    p.add_argument("--minutes", type=float, default=10.0, help="length of each scene")
    p.add_argument("--files", type=int, default=1, help="number of scenes")
    p.add_argument("--layout", choices=("us8k", "av", "both"), default="both")
    p.add_argument("--workers", type=int, default=None, help="processes (default: params)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default: params)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: params)")

    p = _command(sub, "prepare", _cmd_prepare,
                 "generate or validate the dataset, write its manifest")
    p.add_argument("--dataset", default=None, help="'synth' or a dataset folder (default: params)")
    p.add_argument("--test", default=None, help="folder with extra test clips (default: params)")
    p.add_argument("--out", default="data/prepared", help="folder of the manifest")

    p = _command(sub, "features", _cmd_features,
                 "extract features of a dataset into a Parquet store")
    p.add_argument("dataset", help="UrbanSound8K tree, Analytics Vidhya tree or folder of audio")
    p.add_argument("--out", default="data/features", help="feature store folder")
    _engine_options(p)
    p.add_argument("--batch-size", type=int, default=None)

    p = _command(sub, "train", _cmd_train, "fit final models on all labelled clips")
    _store_and_models(p)
    p.add_argument("--out", default="models", help="models folder")
    p.add_argument("--reports", default="reports", help="reports folder (CV accuracy → best)")
    p.add_argument("--cv", action="store_true",
                   help="cross-validate first and write the per-model reports (evaluate "
                        "--no-summary), the final fits queued with the fold fits")
    _engine_options(p)

    p = _command(sub, "models", _cmd_models,
                 "list the models and their parameters (defaults + params)", force=False)
    p.add_argument("--markdown", action="store_true",
                   help="print the documentation's Markdown table")

    p = _command(sub, "evaluate", _cmd_evaluate, "cross-validate models under the official folds")
    _store_and_models(p)
    p.add_argument("--reports", default="reports", help="reports folder")
    _engine_options(p)
    p.add_argument("--no-summary", action="store_true",
                   help="only write the per-model reports (cv/NAME/), not the comparison")
    p.add_argument("--summary-only", action="store_true",
                   help="only rebuild the comparison from existing per-model reports")

    p = _command(sub, "report", _cmd_report,
                 "write the HTML report (index.html) of a reports folder")
    p.add_argument("--reports", default="reports", help="reports folder written by evaluate")
    p.add_argument("--features", default=None,
                   help="feature store (default: beside the reports, else data/features)")
    p.add_argument("--submission", default=None,
                   help="submission CSV (default: beside the reports, else data/submission.csv)")
    p.add_argument("--detect", default=None,
                   help="detect output folder (default: beside the reports, else data/detect)")
    _engine_options(p, dashboard=False)

    p = _command(sub, "tune", _cmd_tune, "fold-aware hyper-parameter search")
    p.add_argument("--model", choices=MODEL_NAMES, required=True, metavar="NAME",
                   help="%(choices)s")
    p.add_argument("--features", default="data/features", help="feature store folder")
    p.add_argument("--reports", default="reports", help="reports folder")
    _engine_options(p)
    p.add_argument("--apply", action="store_true",
                   help="write best_params into train.MODEL of the params file")

    p = _command(sub, "submit", _cmd_submit, "write the leaderboard submission (ID,Class)")
    p.add_argument("--model", default=None, help="model name or 'best' (default: params)")
    p.add_argument("--test", default=None, help="dataset with the test clips (default: params)")
    p.add_argument("--features", default="data/features", help="feature store to reuse")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--out", default="data/submission.csv")
    p.add_argument("--answers", default=None,
                   help="answer key to score against (default: answers.csv of the test folder)")

    p = _command(sub, "predict", _cmd_predict, "classify audio files or folders", force=False)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--model", default="best", help="model name or 'best'")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--json", action="store_true", help="print JSON lines")

    p = _command(sub, "detect", _cmd_detect, "find when each class sounds in long recordings")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    p.add_argument("--model", default=None, help="model name or 'best' (default: params)")
    p.add_argument("--models", default="models", help="models folder")
    p.add_argument("--window", type=float, default=None, help="window length, s (default: params)")
    p.add_argument("--hop", type=float, default=None,
                   help="hop between window starts, s (default: params)")
    p.add_argument("--threshold", type=float, default=None,
                   help="event threshold (default: params)")
    p.add_argument("--gate-db", type=float, default=None,
                   help="dB above the noise floor a frame needs to hold an event (default: params)")
    p.add_argument("--out", default="data/detect", help="output folder")
    p.add_argument("--answers", default=None, help="annotation CSV (file,start,end,class) to score")
    _engine_options(p, dashboard=False)

    p = _command(sub, "score", _cmd_score, "score a submission against an answer key", force=False)
    p.add_argument("submission")
    p.add_argument("--answers", required=True, help="answer key CSV (ID,Class)")

    p = _command(sub, "run", _cmd_run, "every stage, no DVC needed")
    p.add_argument("--dataset", default=None, help="dataset folder (default: params / embedded)")
    p.add_argument("--workdir", default=None, help="output folder (default: the repository)")
    _engine_options(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``urbansound``; returns the process exit code."""
    # SIGTERM unwinds the command like Ctrl-C does, so the `with` blocks that own worker
    # processes end them (signal handlers can only be set from the main thread). Set first,
    # before the heavy imports, so no moment of the command answers Ctrl-C with a traceback.
    in_main_thread = threading.current_thread() is threading.main_thread()
    handlers = masked = None
    command = ""  # known once the arguments are parsed
    _received.clear()
    try:  # from the first line: a signal at any moment of main() is answered in one line
        if in_main_thread:
            handlers = (signal.signal(signal.SIGTERM, _terminate),
                        signal.signal(signal.SIGINT, _interrupt))
        if in_main_thread and hasattr(signal, "pthread_sigmask"):
            # A parent may start us with both signals blocked (inherited by fork and exec):
            # they would never arrive. One already pending is delivered here, inside `try`.
            masked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        started = time.perf_counter()
        args = build_parser().parse_args(argv)
        command = args.command
        from pipeline.core.config import load_params

        params = load_params(args.params)
        _start_worker_server(args, params)
        outcome = args.handler(args, params)
        if _received:  # the signal's exception was swallowed on its way: it still stops us
            raise _received[0]
        if hasattr(outcome, "text"):  # a result: its report (a stage's: one closing line)
            print(outcome.text())
            if getattr(outcome, "produced", None):
                print(_done(args.command, outcome, time.perf_counter() - started))
            return 0
        return int(outcome or 0)
    except (UserError, InputError) as exc:  # InputError: library code's refusal of values
        print(f"{_prog(command)}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _stopped(command, exc)
    except Exception as exc:
        # Closing the workers while an interrupt unwinds can raise on its own (a connection
        # closed under a call); the interrupt is still what ended the command.
        interrupt = _interrupt_behind(exc)
        if interrupt is None:
            raise
        return _stopped(command, interrupt)
    finally:
        if handlers is not None:
            signal.signal(signal.SIGTERM, handlers[0])
            signal.signal(signal.SIGINT, handlers[1])
        if masked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, masked)


def _prog(command: str) -> str:
    """How messages name the command: ``urbansound NAME`` (``urbansound`` before parsing)."""
    return f"urbansound {command}".rstrip()


def _stopped(command: str, interrupt: KeyboardInterrupt) -> int:
    """Say that a signal ended ``command``; the shell's exit code for that signal."""
    terminated = isinstance(interrupt, Terminated)
    print(f"{_prog(command)}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
    return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or :class:`Terminated`) that ``exc`` was raised while
    handling, if any."""
    seen: set[int] = set()
    cause = exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program stands like the KeyboardInterrupt of Ctrl-C."""


#: The signal that stopped the command, kept in case its exception is swallowed: a bare
#: ``except:`` in some library (an import, a JIT compiler) would otherwise lose it.
_received: list[type[KeyboardInterrupt]] = []


def _terminate(signum: int, frame: object) -> None:
    _stop_listening()
    _received.append(Terminated)
    raise Terminated


def _interrupt(signum: int, frame: object) -> None:
    _stop_listening()
    _received.append(KeyboardInterrupt)
    raise KeyboardInterrupt


def _stop_listening() -> None:
    """After the first Ctrl-C or SIGTERM, later ones are ignored: the command is already
    stopping, and a second interrupt inside the closing of its workers would only print
    tracebacks (Ctrl-C pressed twice, or a signal to the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
