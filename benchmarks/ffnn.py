"""Benchmark of the from-scratch FFNN against scikit-learn's MLP and a PyTorch CPU loop.

Run from the repository root:

    python benchmarks/ffnn.py [--epochs 10] [--repeats 3] [--quick]

Writes ``benchmarks/results/ffnn.json`` and ``.md`` (every table below).

Three parts, one table each:

1. digits — sklearn's 8×8 digits, stratified 75/25 split (random_state 0), StandardScaler;
   test accuracy of FFNNClassifier (mean over 3 seeds) next to MLPClassifier.
2. epoch time — make_classification, 10 classes, 8732 × 300 (75 % train), hidden (256, 128),
   ReLU, Adam, η 1e-3, batch 64, L2 1e-4, a fixed number of epochs, no early stopping;
   Glorot-uniform weights and zero biases for all three (scikit-learn's own initialisation).
   Two comparisons: each library at its default thread setting, and all three capped at
   one thread (FFNN's ``blas_threads=1``). Per-epoch time = fit time / epochs; runs are
   interleaved and repeated, the best of the repeats is compared (the least disturbed by
   other load), the median is shown too, and the load average (1 min) before and after, as
   the machine may be shared.
   PyTorch is skipped with a message when it is not installed.
3. regression — Franke's function on [0, 1]² with N(0, 0.1²) noise, N = 1000: test MSE and
   R² of FFNNRegressor next to MLPRegressor with the same architecture.

L2 conventions differ: FFNN minimises mean loss + λ‖W‖² (gradient 2λW); PyTorch's Adam
``weight_decay`` adds wd·W, so it gets wd = 2λ on the weights (not the biases);
scikit-learn's ``alpha`` is divided by the batch size, so it gets its own ``alpha`` = λ as
its documentation would suggest, and is therefore regularised more weakly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results import add_options, save  # noqa: E402

from pipeline.nn import FFNNClassifier, FFNNRegressor  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)

# Chosen by benchmarks/digits_search.py on cross-validation of the training part alone (160
# configurations screened, 15 refined, then label smoothing ε for the winner); the other
# settings are FFNNClassifier's defaults (Adam, η 1e-3, ReLU, batch "auto").
DIGITS_CONFIG = dict(hidden_layer_sizes=(1024,), alpha=1e-3, max_iter=200, label_smoothing=0.2)
HIDDEN = (256, 128)
LR, BATCH, L2 = 1e-3, 64, 1e-4
# --quick: a few epochs on small problems; every printed table is also kept for the results.
QUICK = {"on": False}
TABLES: list[dict] = []


def scaled_split(X, y, *, stratify=True, seed=0):
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y if stratify else None
    )
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def table(title, header, rows):
    TABLES.append({"title": title, "header": header, "rows": rows})
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def digits_part():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = scaled_split(X, y)
    ours, theirs = [], []
    config = {**DIGITS_CONFIG, "max_iter": 2} if QUICK["on"] else DIGITS_CONFIG
    for seed in range(1 if QUICK["on"] else 3):
        ours.append(FFNNClassifier(random_state=seed, **config).fit(X_tr, y_tr)
                    .score(X_te, y_te))
        hidden = DIGITS_CONFIG["hidden_layer_sizes"]
        mlp = MLPClassifier(random_state=seed, hidden_layer_sizes=hidden)
        with threadpool_limits(1, user_api="blas"):
            theirs.append(mlp.fit(X_tr, y_tr).score(X_te, y_te))
    cfg = ", ".join(f"{k}={v}" for k, v in DIGITS_CONFIG.items())
    table(
        "digits (75/25 stratified, random_state 0, StandardScaler; mean of seeds 0, 1, 2)",
        ["model", "test accuracy %", "per seed"],
        [[f"FFNNClassifier({cfg})", f"{100 * np.mean(ours):.2f}",
          " ".join(f"{100 * a:.2f}" for a in ours)],
         [f"MLPClassifier(hidden_layer_sizes={DIGITS_CONFIG['hidden_layer_sizes']})",
          f"{100 * np.mean(theirs):.2f}",
          " ".join(f"{100 * a:.2f}" for a in theirs)]],
    )
    return float(np.mean(ours))


def fit_ffnn(X_tr, y_tr, epochs, seed, blas_threads=None):
    model = FFNNClassifier(
        hidden_layer_sizes=HIDDEN, activation="relu", solver="adam", learning_rate_init=LR,
        batch_size=BATCH, alpha=L2, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
        init="glorot_uniform", random_state=seed, blas_threads=blas_threads,
    )
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    return time.perf_counter() - t0, model.predict


def fit_sklearn(X_tr, y_tr, epochs, seed, threads=None):
    model = MLPClassifier(
        hidden_layer_sizes=HIDDEN, activation="relu", solver="adam", learning_rate_init=LR,
        batch_size=BATCH, alpha=L2, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
        shuffle=True, random_state=seed,
    )
    t0 = time.perf_counter()
    with threadpool_limits(threads, user_api="blas"):  # None leaves the BLAS default
        model.fit(X_tr, y_tr)
    return time.perf_counter() - t0, model.predict


def fit_torch(X_tr, y_tr, epochs, seed, threads=None):
    import torch

    default_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _fit_torch(X_tr, y_tr, epochs, seed)
    finally:
        torch.set_num_threads(default_threads)


def _fit_torch(X_tr, y_tr, epochs, seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    sizes = [X_tr.shape[1], *HIDDEN]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], int(y_tr.max()) + 1))
    net = nn.Sequential(*layers)
    # The initialisation all three share here: Glorot uniform (scikit-learn's own), zero biases.
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    opt = torch.optim.Adam(
        [{"params": weights, "weight_decay": 2 * L2}, {"params": biases}], lr=LR
    )
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    X = torch.from_numpy(np.ascontiguousarray(X_tr, dtype=np.float32))
    y = torch.from_numpy(y_tr.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        Xs, ys = X[perm], y[perm]
        for start in range(0, n, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xs[start:start + BATCH]), ys[start:start + BATCH])
            loss.backward()
            opt.step()
    elapsed = time.perf_counter() - t0

    def predict(X_te):
        with torch.no_grad():
            out = net(torch.from_numpy(np.ascontiguousarray(X_te, dtype=np.float32)))
        return out.argmax(dim=1).numpy()

    return elapsed, predict


def load_average():
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def epoch_part(epochs, repeats):
    X, y = make_classification(
        n_samples=600 if QUICK["on"] else 8732, n_features=300, n_informative=30,
        n_redundant=20, n_classes=10, class_sep=3.0, random_state=0,
    )
    X_tr, X_te, y_tr, y_te = scaled_split(X, y)
    X_tr, X_te = X_tr.astype(np.float32), X_te.astype(np.float32)
    ffnn, sk, pt = "FFNNClassifier", "sklearn MLPClassifier", "PyTorch CPU loop"
    one = ", 1 thread"
    runners = {
        ffnn + " (default threads)": fit_ffnn,
        ffnn + one: partial(fit_ffnn, blas_threads=1),
        sk + " (default threads)": fit_sklearn,
        sk + one: partial(fit_sklearn, threads=1),
    }
    try:
        import torch

        runners[pt + " (default threads)"] = fit_torch
        runners[pt + one] = partial(fit_torch, threads=1)
        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads by default"
    except ImportError:
        torch_note = "PyTorch not installed: skipped (pip install torch==2.13.0 to compare)"
    names = list(runners)
    times = {name: [] for name in names}
    accs = {name: [] for name in names}
    load_before = load_average()
    for rep in range(repeats):
        for name, run in runners.items():
            elapsed, predict = run(X_tr, y_tr, epochs, seed=rep)
            times[name].append(elapsed / epochs)
            accs[name].append(float(np.mean(predict(X_te) == y_te)))
    load_after = load_average()
    best = {name: min(t) for name, t in times.items()}
    ours = names[0]
    rows = [
        [name, f"{1e3 * best[name]:.1f}", f"{1e3 * statistics.median(times[name]):.1f}",
         f"{100 * np.mean(accs[name]):.2f}", f"{best[ours] / best[name]:.2f}"]
        for name in names
    ]
    table(
        f"epoch time (make_classification 8732×300, 10 classes, 75 % train; hidden {HIDDEN}, "
        f"ReLU, Adam η={LR}, batch {BATCH}, L2 {L2}; {epochs} epochs × {repeats} repeats; "
        f"{torch_note}; {os.cpu_count()} CPUs, load average {load_before} before, "
        f"{load_after} after)",
        ["implementation", "ms/epoch (best)", "ms/epoch (median)", "test acc %",
         "FFNN time ratio"],
        rows,
    )
    pairs = [("each at its default threads", names[0], [n for n in names[2:] if "default" in n]),
             ("all capped at 1 thread", names[1], [n for n in names[2:] if n.endswith(one)])]
    for label, a, peers in pairs:
        for b in peers:
            print(f"{label}: FFNN / {b.split(' (')[0].removesuffix(one)}: time "
                  f"{best[a] / best[b]:.2f}×, accuracy "
                  f"{100 * (np.mean(accs[a]) - np.mean(accs[b])):+.2f} points")


def franke(x, y):
    """Franke's bivariate test function on [0, 1]²."""
    return (
        0.75 * np.exp(-((9 * x - 2) ** 2) / 4 - ((9 * y - 2) ** 2) / 4)
        + 0.75 * np.exp(-((9 * x + 1) ** 2) / 49 - (9 * y + 1) / 10)
        + 0.5 * np.exp(-((9 * x - 7) ** 2) / 4 - ((9 * y - 3) ** 2) / 4)
        - 0.2 * np.exp(-((9 * x - 4) ** 2) - (9 * y - 7) ** 2)
    )


def regression_part():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (1000, 2))
    z = franke(X[:, 0], X[:, 1]) + rng.normal(0, 0.1, 1000)
    X_tr, X_te, z_tr, z_te = train_test_split(X, z, test_size=0.25, random_state=0)
    # A fixed number of epochs for both (tol=0 and patience beyond max_iter).
    common = dict(hidden_layer_sizes=(64, 64), activation="tanh", solver="adam",
                  learning_rate_init=3e-3, max_iter=5 if QUICK["on"] else 1000, tol=0.0,
                  n_iter_no_change=1001,
                  random_state=0)
    rows = []
    for name, model in [("FFNNRegressor", FFNNRegressor(alpha=1e-5, **common)),
                        ("sklearn MLPRegressor", MLPRegressor(alpha=1e-4, **common))]:
        with threadpool_limits(1, user_api="blas"):
            pred = model.fit(X_tr, z_tr).predict(X_te)
        rows.append([name, f"{mean_squared_error(z_te, pred):.4f}",
                     f"{r2_score(z_te, pred):.4f}", model.n_iter_])
    table(
        "Franke regression (N=1000 on [0,1]², noise σ=0.1, 75/25 split; hidden (64, 64), tanh, "
        "Adam η=3e-3, 1000 epochs; noise floor MSE = 0.0100)",
        ["model", "test MSE", "test R²", "epochs"], rows,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", choices=["digits", "epoch", "regression"], action="append",
                        default=[])
    add_options(parser, "1 epoch, 1 repeat, 600 rows, digits and Franke over a few epochs")
    args = parser.parse_args(argv)
    if args.quick:
        QUICK["on"], args.epochs, args.repeats = True, 1, 1
    if "digits" not in args.skip:
        digits_part()
    if "epoch" not in args.skip:
        epoch_part(args.epochs, args.repeats)
    if "regression" not in args.skip:
        regression_part()
    epoch = next((t for t in TABLES if t["title"].startswith("epoch time")), None)
    ratios = "; ".join(f"{row[0]}: {row[1]} ms/epoch, FFNN time ratio {row[4]}"
                       for row in epoch["rows"]) if epoch else "epoch part skipped"
    save(args, "ffnn", {"tables": TABLES},
         summary=f"The from-scratch network against scikit-learn (and PyTorch when installed): "
                 f"{ratios}.",
         table=[epoch["header"], *epoch["rows"]] if epoch else None)


if __name__ == "__main__":
    main()
