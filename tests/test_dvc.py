"""`dvc repro` end to end in a temporary copy of the repository, on a tiny generated dataset."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# One thread per fit: on a busy machine, OpenMP threads spinning at their barriers make a
# two-thread xgboost fit of 30 clips take seconds instead of milliseconds.
TINY = {
    "prepare": {"synth_clips": 30, "synth_test_clips": 10},
    "parallel": {"scheduler": "sync", "workers": 1},
    "train.rf": {"n_estimators": 10, "n_jobs": 1},
    "train.xgb": {"n_estimators": 5, "n_jobs": 1},
    "train.ffnn": {"hidden_layer_sizes": [16], "max_iter": 5, "networks": 1,
                   "scaling": "standard"},
    # The plain mean: the stages are under test here, the learnt vote in test_vote.py and
    # test_stages.py (its inner fits would triple the ensemble stage's fits).
    "train.ensemble": {"weights": None},
}
REPRO_MODELS = ["logreg", "ffnn"]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                         check=True)
    return [f for f in out.stdout.splitlines() if (REPO / f).is_file()]


def _edit_params(path: Path, edits: dict) -> None:
    params = yaml.safe_load(path.read_text())
    for key, values in edits.items():
        section = params
        for part in key.split("."):
            section = section[part]
        section.update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _make_repo(tmp_path_factory, edits: dict):
    """A git repository holding the project's tracked files and ``edits`` of its parameters;
    ``(root, run)`` where ``run(*command)`` runs there and returns its output."""
    root = tmp_path_factory.mktemp("repo")
    for name in _tracked_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    _edit_params(root / "params.yaml", edits)
    env = dict(os.environ, PYTHONPATH=str(root),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    run("git", "init", "-q")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root, run


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The project with tiny parameters and its own list of models."""
    return _make_repo(tmp_path_factory, TINY)


@pytest.fixture(scope="module")
def two_model_repo(tmp_path_factory):
    """The project with tiny parameters and two of its models (the ensemble keeps its
    default members, all of them): each model@NAME stage is a command of its own, and
    their definitions are checked on the full list above."""
    return _make_repo(tmp_path_factory, {**TINY, "train": {"models": REPRO_MODELS}})


def _ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines()
            if line.startswith("Running stage")]


def _stages(models: list[str]) -> list[str]:
    """Every stage, with one model@NAME stage per model of train.models (dvc.yaml's foreach)."""
    return ["prepare", "features", *(f"model@{m}" for m in models), "ensemble", "submit",
            "evaluate"]


STAGES = _stages(yaml.safe_load((REPO / "params.yaml").read_text())["train"]["models"])


def test_stage_definitions_are_valid(repo):
    _, run = repo
    listed = run("dvc", "stage", "list", "--all", "--fail")
    assert [line.split()[0] for line in listed.splitlines() if line.strip()] == STAGES


def _pipeline_imports(module: Path) -> set[Path]:
    """Files of the ``pipeline`` modules that ``module`` imports anywhere in its body (the
    registry imports most estimators inside its factories), and their packages."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
        for name in (n for n in names if n and n.split(".")[0] == "pipeline"):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                base = REPO.joinpath(*parts[:depth])
                found |= {f for f in (base / "__init__.py", base.with_suffix(".py")) if f.is_file()}
            if isinstance(node, ast.ImportFrom):  # from pipeline.nn import training
                found |= {f for a in node.names
                          if (f := REPO.joinpath(*parts, a.name).with_suffix(".py")).is_file()}
    return found


def test_model_stages_depend_on_every_module_a_model_is_built_from():
    # A change to how a model computes must rerun its stages: the modules reachable from
    # the registry, but for messages and file writing, which change no result.
    reached, todo = set(), [REPO / "pipeline" / "models" / "registry.py"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(_pipeline_imports(module))
    needed = {str(f.relative_to(REPO)) for f in reached} - {
        "pipeline/__init__.py", "pipeline/core/__init__.py", "pipeline/core/errors.py",
        "pipeline/core/io.py"}
    assert "pipeline/nn/training.py" in needed and "pipeline/models/ensemble.py" in needed
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage in ("model", "ensemble"):
        deps = stages[stage].get("do", stages[stage])["deps"]
        missing = {f for f in needed if not any(f == d or f.startswith(d + "/") for d in deps)}
        assert not missing, f"dvc.yaml stage {stage} lacks deps {sorted(missing)}"


def test_repro_then_clean_then_only_what_a_parameter_touches(two_model_repo):
    root, run = two_model_repo
    assert _ran(run("dvc", "repro")) == _stages(REPRO_MODELS)
    assert (root / "data" / "submission.csv").is_file()
    assert "up to date" in run("dvc", "status")
    assert _ran(run("dvc", "repro")) == []

    metrics = run("dvc", "metrics", "show")
    assert "models.ffnn.accuracy_mean" in metrics and "reports/metrics.json" in metrics
    headline = json.loads((root / "reports" / "metrics.json").read_text())["models"]["ffnn"]
    assert "per_class_recall" not in headline  # the detail lives in reports/cv/NAME/
    page = (root / "reports" / "index.html").read_text()
    assert 'id="submission"' in page and "<audio" in page  # evaluate ran after submit

    _edit_params(root / "params.yaml", {"train.ffnn": {"alpha": 0.05}})
    status = run("dvc", "status")
    changed = [line.rstrip(":") for line in status.splitlines() if line and not line[0].isspace()]
    assert changed == ["model@ffnn", "ensemble"]  # the ensemble has an ffnn member
    assert _ran(run("dvc", "repro")) == ["model@ffnn", "ensemble", "submit", "evaluate"]
    assert "up to date" in run("dvc", "status")
