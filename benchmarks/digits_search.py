"""Model selection for the digits configuration of benchmarks/ffnn.py, on the training part only.

Run from the repository root (one BLAS thread; about 26 min on one core):

    nice -n 19 python benchmarks/digits_search.py [--quick] [--candidates 160] [--top 15]

The data are those of ``benchmarks/ffnn.py``: sklearn's 8×8 digits, stratified 75/25 split
(random_state 0). The configuration is chosen by cross-validation on the 75 % training part
alone; the 25 % test part is touched once, at the end, for the CV winner only (and for the
current ``DIGITS_CONFIG`` as a reference), so the test accuracy is an honest estimate.

Cross-validation. Repeat r (r = 0, 1, …) is a 5-fold ``StratifiedKFold(shuffle=True,
random_state=r)`` of the training part; the model in repeat r is seeded with
``random_state=r``, so the CV score averages over splits and initialisations. Each fold fits
a ``Pipeline(StandardScaler, FFNNClassifier)``, so the scaler sees the fold's training rows
only. A candidate's score is the mean validation accuracy over its folds × repeats, shown
with two standard errors: the naive one (std / √n) and Nadeau & Bengio's corrected one
(std · √(1/n + n_val/n_fit)), which accounts for the overlap of the fold training sets and
is the more honest of the two.

Coarse to fine. Screening: every candidate gets repeat 0 (5 fits). Refinement: the ``--top``
best of the screen get repeats 1 and 2 as well (15 fits in all) and are ranked by that mean;
the first of this ranking is the CV winner. Last, label smoothing (``label_smoothing`` ε ∈
{0.02, 0.05, 0.1, 0.2, 0.3}) is tried on the winner over the same folds and seeds; the ε
of highest CV mean is kept if it beats ε = 0 (the smaller one on a tie). Only this final
configuration meets the test part.

Candidates: the current ``DIGITS_CONFIG``, the estimator's defaults, and a seeded random
sample (random search over a grid too large to run in full) of

* optimiser and schedule: Adam with a constant η ∈ {1e-3, 3e-3}; Adam with a cosine
  schedule, η₀ ∈ {1e-3, 3e-3}; Nesterov or classical momentum (μ 0.9) with a cosine schedule,
  η₀ ∈ {0.03, 0.1, 0.3}. Cosine candidates also draw a linear warm-up of 0 or 100 updates
  and a floor η_min of 0 or η₀/100, and train exactly ``max_iter`` epochs (``tol=0``,
  ``n_iter_no_change=max_iter``) because the schedule is laid out over ``max_iter``;
  constant-η candidates keep the estimator's stopping rule;
* activation ∈ {relu, elu, tanh, leaky_relu};
* hidden layers ∈ {(256,), (512,), (1024,), (256, 256)};
* alpha (λ of λ‖W‖² on the mean loss) ∈ {1e-4, 3e-4, 1e-3, 3e-3};
* batch size ∈ {32, 64, 128, "auto" (200)};
* epochs (``max_iter``) ∈ {50, 100, 200, 300}.

A candidate whose training diverges scores nothing and ranks last.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ffnn import DIGITS_CONFIG, scaled_split, table  # noqa: E402
from results import add_options, save  # noqa: E402

from pipeline.nn import FFNNClassifier  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)

N_SPLITS = 5
TEST_SEEDS = (0, 1, 2)
SMOOTHING = (0.02, 0.05, 0.1, 0.2, 0.3)  # ε tried on the CV winner, smallest first
FAMILIES = {
    # (solver, schedule): learning rates η₀ to draw from
    ("adam", "constant"): (1e-3, 3e-3),
    ("adam", "cosine"): (1e-3, 3e-3),
    ("nesterov", "cosine"): (0.03, 0.1, 0.3),
    ("momentum", "cosine"): (0.03, 0.1, 0.3),
}
ACTIVATIONS = ("relu", "elu", "tanh", "leaky_relu")
HIDDEN = ((256,), (512,), (1024,), (256, 256))
ALPHAS = (1e-4, 3e-4, 1e-3, 3e-3)
BATCHES = (32, 64, 128, "auto")
EPOCHS = (50, 100, 200, 300)
WARMUPS = (0, 100)
FLOORS = (0.0, 0.01)  # η_min as a fraction of η₀


def sample_candidates(n, *, seed=0):
    """The anchors (``DIGITS_CONFIG``, the defaults) and ``n − 2`` distinct random draws.

    Parameters
    ----------
    n : int
        Number of candidates in all.
    seed : int
        Seed of the draws.

    Returns
    -------
    list of dict
        FFNNClassifier keyword arguments, without ``random_state``.
    """
    rng = np.random.default_rng(seed)
    candidates = [dict(DIGITS_CONFIG), {}]
    seen = {config_key(c) for c in candidates}
    families = list(FAMILIES)
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    while len(candidates) < n:
        solver, schedule = pick(families)
        lr = pick(FAMILIES[solver, schedule])
        epochs = pick(EPOCHS)
        config = dict(
            solver=solver, learning_rate=schedule, learning_rate_init=lr,
            activation=pick(ACTIVATIONS), hidden_layer_sizes=pick(HIDDEN), alpha=pick(ALPHAS),
            batch_size=pick(BATCHES), max_iter=epochs,
        )
        if schedule == "cosine":
            config.update(lr_warmup=pick(WARMUPS), lr_min=pick(FLOORS) * lr, tol=0.0,
                          n_iter_no_change=epochs)
        key = config_key(config)
        if key not in seen:
            seen.add(key)
            candidates.append(config)
    return candidates


def config_key(config):
    return tuple(sorted((k, str(v)) for k, v in config.items()))


def describe(config):
    """Short text of a configuration; the fixed-epoch switches are implied by "cosine"."""
    if not config:
        return "defaults"
    shown = {k: v for k, v in config.items() if k not in ("tol", "n_iter_no_change")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def folds(X, y, repeat):
    """The ``N_SPLITS`` (train, validation) index pairs of repeat ``repeat``."""
    cv = StratifiedKFold(n_splits=N_SPLITS, shuffle=True, random_state=repeat)
    return list(cv.split(X, y))


def cv_scores(config, X, y, repeat):
    """Validation accuracies of one repeat, shape (N_SPLITS,); NaN where training diverged."""
    scores = []
    for fit_idx, val_idx in folds(X, y, repeat):
        model = make_pipeline(
            StandardScaler(), FFNNClassifier(random_state=repeat, blas_threads=1, **config)
        )
        # A diverging candidate overflows on its way to the estimator's ValueError; that is
        # an expected outcome of the search, not a fault worth a screen of warnings.
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                model.fit(X[fit_idx], y[fit_idx])
            scores.append(model.score(X[val_idx], y[val_idx]))
        except ValueError:  # diverged
            scores.append(math.nan)
    return np.array(scores)


def summary(scores, n_fit, n_val):
    """Mean, naive s.e. and Nadeau–Bengio corrected s.e. of fold accuracies (NaN if any)."""
    n = scores.size
    mean = float(np.mean(scores))
    sd = float(np.std(scores, ddof=1)) if n > 1 else math.nan
    return mean, sd / math.sqrt(n), sd * math.sqrt(1 / n + n_val / n_fit)


def search(X, y, candidates, *, top, repeats):
    """Screen every candidate on repeat 0, refine the ``top`` best on ``repeats`` repeats.

    Returns
    -------
    list of dict
        One per candidate, best first: ``config``, ``scores`` (all fold accuracies),
        ``mean``, ``se``, ``se_nb``, ``repeats``.
    """
    n_val = len(y) / N_SPLITS
    n_fit = len(y) - n_val
    results = []
    t0 = time.perf_counter()
    for i, config in enumerate(candidates):
        scores = cv_scores(config, X, y, 0)
        results.append({"config": config, "scores": scores, "repeats": 1})
        print(f"[screen {i + 1}/{len(candidates)} {time.perf_counter() - t0:.0f} s] "
              f"{100 * np.mean(scores):.2f} %  {describe(config)}", flush=True)
    by_mean = lambda r: -np.nan_to_num(np.mean(r["scores"]), nan=-1.0)  # noqa: E731
    results.sort(key=by_mean)
    for i, result in enumerate(results[:top]):
        extra = [cv_scores(result["config"], X, y, r) for r in range(1, repeats)]
        result["scores"] = np.concatenate([result["scores"], *extra])
        result["repeats"] = repeats
        print(f"[refine {i + 1}/{top} {time.perf_counter() - t0:.0f} s] "
              f"{100 * np.mean(result['scores']):.2f} %  {describe(result['config'])}",
              flush=True)
    refined, screened = results[:top], results[top:]
    refined.sort(key=by_mean)
    for result in results:
        result["mean"], result["se"], result["se_nb"] = summary(result["scores"], n_fit, n_val)
    return refined + screened


def smoothing_stage(X, y, winner, *, repeats):
    """Label smoothing for the CV winner: each ε of ``SMOOTHING`` on the winner's folds.

    Returns the rows (ε, scores, mean, paired difference to ε = 0 with its NB s.e.) and the
    chosen configuration: the winner with the ε of highest CV mean (the smaller ε on a
    tie), or the winner itself when no ε beats it.
    """
    n_val = len(y) / N_SPLITS
    n_fit = len(y) - n_val
    base = winner["scores"]
    rows, best, best_mean = [], winner["config"], float(np.mean(base))
    for eps in SMOOTHING:
        config = {**winner["config"], "label_smoothing": eps}
        scores = np.concatenate([cv_scores(config, X, y, r) for r in range(repeats)])
        mean = float(np.mean(scores))
        diff, _, diff_se = summary(scores - base, n_fit, n_val)
        rows.append((eps, mean, diff, diff_se))
        print(f"[smoothing ε={eps}] {100 * mean:.2f} %", flush=True)
        if mean > best_mean:
            best, best_mean = config, mean
    return rows, best


def test_accuracy(config, X_tr, X_te, y_tr, y_te):
    """Test accuracies for ``TEST_SEEDS``, shape (len(TEST_SEEDS),)."""
    return np.array([
        FFNNClassifier(random_state=seed, blas_threads=1, **config).fit(X_tr, y_tr)
        .score(X_te, y_te)
        for seed in TEST_SEEDS
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=160,
                        help="candidates screened, anchors included (default 160)")
    parser.add_argument("--top", type=int, default=15, help="candidates refined (default 15)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="CV repeats of the refined candidates (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sample")
    add_options(parser, "3 candidates of 2 epochs on 400 digits, 1 refined on 2 repeats, "
                        "one ε, one test seed")
    args = parser.parse_args(argv)
    global SMOOTHING, TEST_SEEDS
    reference = DIGITS_CONFIG
    t0 = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    if args.quick:
        args.candidates, args.top, args.repeats = 3, 1, 2
        SMOOTHING, TEST_SEEDS = SMOOTHING[:1], TEST_SEEDS[:1]
        reference = {**DIGITS_CONFIG, "max_iter": 2}
        X, y = X[:400], y[:400]
    # The raw training part for the CV (each fold scales itself); the scaled split for the test.
    X_fit, _, y_fit, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    candidates = sample_candidates(args.candidates, seed=args.seed)
    if args.quick:
        candidates = [{**c, "max_iter": 2} for c in candidates]
    with threadpool_limits(1, user_api="blas"):
        results = search(X_fit, y_fit, candidates, top=min(args.top, len(candidates)),
                         repeats=args.repeats)
        smoothing_rows, winner = smoothing_stage(X_fit, y_fit, results[0],
                                                 repeats=results[0]["repeats"])
        elapsed_cv = time.perf_counter() - t0
        split = scaled_split(X, y)
        acc_winner = test_accuracy(winner, *split)
        acc_current = test_accuracy(reference, *split)
    rows = [
        [i + 1, f"{100 * r['mean']:.2f}", f"{100 * r['se']:.2f}", f"{100 * r['se_nb']:.2f}",
         N_SPLITS * r["repeats"], describe(r["config"])]
        for i, r in enumerate(results[:15])
    ]
    table(
        f"CV ranking on the training part ({len(y_fit)} digits; {len(candidates)} candidates "
        f"screened on 1 × {N_SPLITS}-fold, the top {args.top} refined on {args.repeats} × "
        f"{N_SPLITS}-fold; {elapsed_cv:.0f} s)",
        ["rank", "CV acc %", "s.e.", "s.e. (NB)", "folds", "configuration"], rows,
    )
    table(
        f"label smoothing for the CV winner (same {N_SPLITS * results[0]['repeats']} folds; "
        "paired difference to ε = 0)",
        ["ε", "CV acc %", "difference", "s.e. (NB)"],
        [[0.0, f"{100 * results[0]['mean']:.2f}", "", ""]]
        + [[eps, f"{100 * mean:.2f}", f"{100 * diff:+.2f}", f"{100 * se:.2f}"]
           for eps, mean, diff, se in smoothing_rows],
    )
    for anchor in candidates[:2]:
        rank, r = next((i, r) for i, r in enumerate(results) if r["config"] is anchor)
        print(f"{'DIGITS_CONFIG' if anchor else 'defaults'}: rank {rank + 1}, CV "
              f"{100 * r['mean']:.2f} % ± {100 * r['se']:.2f} over {N_SPLITS * r['repeats']} folds")
    table(
        f"test accuracy (25 % test part, seeds {', '.join(map(str, TEST_SEEDS))}; "
        "only the CV winner with its chosen ε; DIGITS_CONFIG of benchmarks/ffnn.py for "
        "reference)",
        ["model", "test acc % (mean)", "per seed"],
        [[f"CV winner: {describe(winner)}", f"{100 * acc_winner.mean():.2f}",
          " ".join(f"{100 * a:.2f}" for a in acc_winner)],
         [f"DIGITS_CONFIG: {describe(DIGITS_CONFIG)}", f"{100 * acc_current.mean():.2f}",
          " ".join(f"{100 * a:.2f}" for a in acc_current)]],
    )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    save(args, "digits_search",
         {"candidates": len(candidates), "top": args.top, "repeats": args.repeats,
          "winner": describe(winner), "winner_test_accuracy": float(acc_winner.mean()),
          "digits_config_test_accuracy": float(acc_current.mean()),
          "cv_ranking": rows, "seconds": time.perf_counter() - t0},
         summary=f"CV search of the network's configuration on the digits' training part "
                 f"({len(candidates)} candidates): the winner ({describe(winner)}) scored "
                 f"{100 * acc_winner.mean():.2f} % on the test part, DIGITS_CONFIG "
                 f"{100 * acc_current.mean():.2f} %.",
         table=[["rank", "CV acc %", "s.e.", "s.e. (NB)", "folds", "configuration"], *rows])


if __name__ == "__main__":
    main()
