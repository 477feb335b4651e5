"""The typed CV result renders the very files of the dict-based evaluation (golden files)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cv_fixture import CASES, DIGEST, NAMES, PARAMS, case, fake_fits

from pipeline.core.errors import UserError
from pipeline.evaluation import (
    CVResult,
    CVRun,
    FoldResult,
    assemble,
    collect_reports,
    report_text,
    write_reports,
    write_summary,
)
from pipeline.models.estimators import build_models

GOLDEN = Path(__file__).parent / "data" / "cv_golden"


def result_of(name: str) -> CVResult:
    """The typed result of the golden case's fixed fits."""
    rows, protocol, optimistic, splits, compared = case(name)
    fits = [FoldResult(model, split, f["proba"], f["classes"], f["fit_seconds"], f["rows"])
            for (model, split), f in fake_fits(rows, [*splits, *compared]).items()]
    run = CVRun(protocol, optimistic, len(rows), DIGEST)
    return assemble(rows, build_models(NAMES, PARAMS, seed=42), run, splits, fits,
                    compared=compared)


def assert_same_files(written: Path, golden: Path) -> None:
    expected = sorted(p.relative_to(golden) for p in golden.rglob("*")
                      if p.is_file() and p.name != "report.txt")  # printed, not written
    assert len(expected) >= 3
    for rel in expected:
        got, want = written / rel, golden / rel
        if rel.suffix == ".json":  # key order is not part of the format
            assert json.loads(got.read_text()) == json.loads(want.read_text()), rel
        else:
            assert got.read_text() == want.read_text(), rel


@pytest.mark.parametrize("name", CASES)
def test_reports_are_those_of_the_dict_based_code(name, tmp_path):
    result, run, rebuilt = result_of(name), tmp_path / "run", tmp_path / "rebuilt"
    write_reports(result, run)
    assert_same_files(run, GOLDEN / name / "direct")
    assert report_text(result) + "\n" == (GOLDEN / name / "direct" / "report.txt").read_text()
    assert all((run / "cv" / n / "confusion.png").is_file() for n in NAMES)
    # The summary stage: the comparison rebuilt from the per-model reports.
    shutil.copytree(run / "cv", rebuilt / "cv")
    names = NAMES
    if name == "official":  # as in the golden run: a report of another store is left out
        shutil.copytree(rebuilt / "cv" / "logreg", rebuilt / "cv" / "xgb")
        record = json.loads((rebuilt / "cv" / "xgb" / "metrics.json").read_text())
        record.update(model="xgb", store_digest="another-store")
        (rebuilt / "cv" / "xgb" / "metrics.json").write_text(json.dumps(record))
        names = [*NAMES, "xgb"]
    collected = collect_reports(rebuilt, names, DIGEST)
    assert collected.left_out == (("xgb",) if name == "official" else ())
    assert {n: m.summary() for n, m in collected.models.items()} == \
        {n: m.summary() for n, m in result.models.items()}
    write_summary(collected, rebuilt)
    assert_same_files(rebuilt, GOLDEN / name / "collected")
    assert report_text(collected) + "\n" == \
        (GOLDEN / name / "collected" / "report.txt").read_text()


def test_the_result_holds_the_out_of_fold_predictions_and_probabilities():
    result = result_of("inferred")
    rows = case("inferred")[0]
    for model in result.models.values():
        assert model.probabilities.shape == (len(rows), len(model.classes))
        np.testing.assert_allclose(model.probabilities.sum(axis=1), 1.0)
        predicted = np.asarray(model.classes)[np.argmax(model.probabilities, axis=1)]
        assert list(predicted) == list(model.predictions["predicted"])
        assert sorted(model.predictions["id"]) == sorted(rows["id"])
        assert model.random_split is not None and model.run is result.run
    # The ensemble is the weighted soft vote (2:1) of its members' fold probabilities.
    members = [result.models["logreg"].probabilities, result.models["rf"].probabilities]
    np.testing.assert_allclose(result.models["ensemble"].probabilities,
                               (2 * members[0] + members[1]) / 3)


def test_best_follows_the_honest_accuracies_only():
    honest, optimistic = result_of("official"), result_of("optimistic")
    scores = {n: m.accuracy_mean for n, m in honest.models.items()}
    assert honest.best == max(scores, key=scores.get)
    assert optimistic.run.optimistic and optimistic.best is None
    assert optimistic.to_json()["warning"] == optimistic.run.warning
    assert "warning" not in honest.to_json()


@pytest.mark.parametrize("damage", ["no_id_column", "no_folds_key", "not_json"])
def test_a_damaged_report_is_one_line_naming_it(damage, tmp_path):
    shutil.copytree(GOLDEN / "official" / "direct" / "cv" / "logreg", tmp_path / "cv" / "logreg")
    report = tmp_path / "cv" / "logreg"
    if damage == "no_id_column":
        preds = (report / "predictions.csv").read_text().splitlines()
        (report / "predictions.csv").write_text(
            "\n".join(line.split(",", 1)[1] for line in preds) + "\n")
    elif damage == "no_folds_key":
        record = json.loads((report / "metrics.json").read_text())
        del record["folds"]
        (report / "metrics.json").write_text(json.dumps(record))
    else:
        (report / "metrics.json").write_text("{")
    with pytest.raises(UserError, match=r"^cross-validation report of logreg in .* unreadable"):
        collect_reports(tmp_path, ["logreg"])
