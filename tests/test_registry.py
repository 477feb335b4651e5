"""The model registry is the one definition of a model: everything else derives from it."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from model_tables import TINY, matrix

from pipeline.cli import build_parser, main
from pipeline.config import Params, TrainParams, load_params
from pipeline.errors import UserError
from pipeline.estimators import (
    accepted_params,
    build_estimator,
    model_params,
    resolve_names,
    set_n_jobs,
)
from pipeline.persist import FORMATS, load_model, save_model
from pipeline.registry import (
    BASE_MODELS,
    MODEL_NAMES,
    REGISTRY,
    entry_of,
    fitted_part,
    markdown_table,
)
from pipeline.scaling import SCALINGS, input_scaler

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_entry_builds_an_estimator_it_recognises(name):
    model = build_estimator(name, seed=7)
    assert entry_of(model) is REGISTRY[name]
    part = fitted_part(model)
    members = [fitted_part(m) for _, m in part.estimators] if REGISTRY[name].combines else [part]
    assert all(m.random_state == 7 for m in members)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_defaults_round_trip_into_the_estimator(name):
    entry = REGISTRY[name]
    assert model_params(name) == dict(entry.defaults)
    assert set(entry.defaults) <= accepted_params(name)  # every default is a real parameter
    model = build_estimator(name, seed=0)
    part = fitted_part(model)
    if entry.combines:
        assert [m for m, _ in part.estimators] == entry.defaults["members"]
        return
    given = part.get_params()
    if hasattr(part, "params"):  # xgb keeps the booster's in a dict, beside its own
        given = {**given, **part.params}
    if hasattr(model, "named_steps") and "select" in model.named_steps:  # the column step
        given["top_features"] = model.named_steps["select"].k
    if "scaling" in entry.defaults:  # the network's input scaler, beside its codes
        inputs = model.named_steps["inputs"].named_transformers
        given["scaling"] = next(s for s in SCALINGS
                                if type(input_scaler(s)) is type(inputs["scale"]))
        given["coded_columns"], given["code_bins"] = inputs["codes"].k, inputs["codes"].bins
    if "networks" in entry.defaults:  # a bag of networks: its size, then the network's own
        given = {**given, **part.estimator.get_params(), "networks": part.size}
    for key, value in entry.defaults.items():
        built = given[key]
        assert (list(built) if isinstance(built, tuple) else built) == value, key


def test_defaults_are_copies():
    model_params("ffnn")["hidden_layer_sizes"].append(1)
    model_params("ensemble")["members"].clear()
    assert model_params("ffnn")["hidden_layer_sizes"] == [128, 64]
    assert model_params("ensemble")["members"] == ["ffnn", "rf", "xgb"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_entry_saves_and_loads_in_its_format(tmp_path, name):
    assert REGISTRY[name].persist in FORMATS
    X, y = matrix(120)
    model = build_estimator(name, TINY.get(name), seed=1, all_params=TINY).fit(X, y)
    desc = save_model(model, name, tmp_path)
    assert desc["format"] == REGISTRY[name].persist
    np.testing.assert_array_equal(load_model(name, tmp_path).predict_proba(X),
                                  model.predict_proba(X))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_thread_count_follows_the_entry(name):
    entry = REGISTRY[name]
    model = set_n_jobs(build_estimator(name, seed=0), 1)
    parts = ([fitted_part(m) for _, m in fitted_part(model).estimators] if entry.combines
             else [fitted_part(model)])
    for part in parts:
        part_entry = entry_of(part)
        threads = (part.params or {}).get("n_jobs") if hasattr(part, "params") else \
            part.get_params().get("n_jobs")
        assert threads == (1 if part_entry.set_threads else part_entry.defaults.get("n_jobs"))
    assert entry.uses_all_cores == (entry.defaults.get("n_jobs") == -1)


def test_train_params_fields_are_the_registry():
    fields = [f.name for f in dataclasses.fields(TrainParams)]
    assert fields == ["models", *MODEL_NAMES]
    assert TrainParams().models == BASE_MODELS


def test_params_file_holds_only_user_settings():
    train = load_params(REPO / "params.yaml").train
    for name in MODEL_NAMES:
        given = getattr(train, name)
        assert set(given) <= accepted_params(name)
        assert not any(k in given and given[k] == v
                       for k, v in REGISTRY[name].defaults.items()), name


def test_train_params_keep_their_sections_and_refuse_unknown_ones(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  rf: {n_estimators: 7}\n")
    params = load_params(path)
    assert params.train.rf == {"n_estimators": 7} and params.train.logreg == {}
    assert params == dataclasses.replace(Params(), train=TrainParams(rf={"n_estimators": 7}))
    path.write_text("train:\n  svm: {C: 1}\n")
    with pytest.raises(UserError, match=r"train\.svm") as info:
        load_params(path)
    assert "\n" not in str(info.value)


def _choices(command: str) -> tuple:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return next(a for a in sub.choices[command]._actions if a.dest == "model").choices


def test_cli_model_choices_come_from_the_registry():
    assert tuple(_choices("train")) == (*MODEL_NAMES, "all")
    assert tuple(_choices("evaluate")) == (*MODEL_NAMES, "all")
    combining = [n for n, e in REGISTRY.items() if e.combines]
    assert resolve_names("all", BASE_MODELS) == [*BASE_MODELS, *combining]


def test_documented_model_table_is_the_generated_one():
    text = (REPO / "docs" / "user_guide" / "models.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- model-registry -->\n(.*?)\n<!-- /model-registry -->", text, re.S)
    assert found, "docs/user_guide/models.md lacks the <!-- model-registry --> table"
    assert found.group(1) == markdown_table(), "regenerate: urbansound models --markdown"


def test_models_command_marks_the_users_settings(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  rf: {n_estimators: 7}\n")
    assert main(["--params", str(path), "models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert sorted(lines) == sorted(MODEL_NAMES)
    assert "n_estimators=7*" in lines["rf"] and "max_features=sqrt " in lines["rf"]
    assert "*" not in lines["logreg"] and "C=0.5" in lines["logreg"]


def test_an_unknown_network_scaling_is_a_one_line_error():
    with pytest.raises(UserError, match=r"^train\.ffnn\.scaling must be one of standard, "
                                        r"quantile, got 'minmax'$"):
        build_estimator("ffnn", {"scaling": "minmax"}, seed=0)
