"""params.yaml parsing and the CLI's error contract."""

import subprocess
import sys

import pytest

from pipeline.cli import main
from pipeline.core.config import Params, load_params
from pipeline.core.errors import UserError


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_params() == Params()


def test_repository_params_file_parses():
    params = load_params("params.yaml")
    assert params.features.sr == 22050
    assert params.seed == 42


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("features:\n  n_ftt: 1024\n", "features.n_ftt"),
        ("features:\n  n_fft: big\n", "features.n_fft must be an integer"),
        ("seed: [1\n", "not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_bad_params_are_user_errors(tmp_path, text, needle):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=needle):
        load_params(path)


def test_missing_named_params_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_user_error_is_one_line_exit_2(tmp_path, capsys):
    code = main(["--params", str(tmp_path / "nope.yaml"), "score", "x.csv", "--answers", "y"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "not found" in err


def test_python_dash_m_runs_help():
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True, check=True
    )
    assert "synth" in out.stdout and "submit" in out.stdout
