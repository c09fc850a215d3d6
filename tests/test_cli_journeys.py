"""Journeys through the CLI a user takes by accident: Ctrl-C in the middle of a command, ``--resume`` into the wrong
folder, a misspelt ``--param``, ``--no-progress`` on a model without networks. Each ends in one plain line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from conftest import make_tiny_table, run_moviegenre
from moviegenre.errors import ConfigError

TFIDF_PARAMS = "C, min_df, max_terms, column, analyzer, nb"


def cli(*args: object) -> list[str]:
    return [sys.executable, "-c", "from moviegenre.cli import run; run()", *map(str, args)]


# -- Ctrl-C ----------------------------------------------------------------------------------------------------------

# What the console script runs, as pyproject.toml names it (an installed copy's metadata lags until reinstalled).
_SCRIPT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]["moviegenre"]
CONSOLE_SCRIPT = "from {0} import {1}; {1}()".format(*_SCRIPT.split(":"))

LATE_CTRL_C = """
import os, signal, sys, threading, time
def late():  # a thread still ending as Python shuts down (torch's, ONNX Runtime's), when Ctrl-C comes
    while threading.main_thread().is_alive():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)
threading.Thread(target=late).start()
sys.argv = ["moviegenre", "models"]
""" + CONSOLE_SCRIPT

CTRL_C_IN_THE_IMPORT = """
import os, signal, sys
class CtrlCAtTyper:  # Ctrl-C comes as Python imports typer, halfway through importing the CLI
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, CtrlCAtTyper())
sys.argv = ["moviegenre", "train", "movies.csv"]
""" + CONSOLE_SCRIPT


def test_ctrl_c_once_a_command_is_done_changes_nothing():
    """predict-table wrote its file and said so, then exited 130 (a failure to a scheduler): the signal came as Python
    shut down. The console script (main) ignores it then."""
    done = subprocess.run([sys.executable, "-c", LATE_CTRL_C], check=False, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (0, "") and "fusion-gmu" in done.stdout


def test_ctrl_c_while_the_cli_is_imported_is_one_line_and_exit_130():
    """The first third of a second of every command is Python importing the CLI: Ctrl-C then was a traceback. No
    command has started, so none says how to go on (train's --resume would find nothing to resume)."""
    done = subprocess.run([sys.executable, "-c", CTRL_C_IN_THE_IMPORT], check=False, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")

def test_ctrl_c_in_a_training_epoch_is_one_line_and_exit_130(tmp_path):
    """Lightning catches the KeyboardInterrupt itself and exits with 1: it still reads as an interrupt."""
    table, run = make_tiny_table(tmp_path), tmp_path / "run"
    process = subprocess.Popen(cli("train", table, "--out", run, "--model", "description-mlp", "--min-genre-count", 3,
                                   "--param", "text_encoder=minilm", "--param", "ensemble=1", "--max-epochs", 100_000,
                                   "--param", 'config={"patience": 100000}', "--no-progress"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (run / "checkpoints" / "last.ckpt").exists():  # an epoch is done: Lightning is training
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (process.returncode, out, err) == (130, "", "interrupted (run the same command with --resume to continue)\n")


def test_ctrl_c_after_which_a_library_exits_with_1_is_exit_130(monkeypatch, capsys, tmp_path):
    """audit's folds train under Lightning: its sys.exit(1) on Ctrl-C is an interrupt too."""
    def lightning_like(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
        except KeyboardInterrupt:
            sys.exit(1)
        raise AssertionError("SIGINT did not interrupt")

    monkeypatch.setattr("moviegenre.evaluation.audit.audit", lightning_like)
    before = signal.getsignal(signal.SIGINT)
    code, out, err = run_moviegenre(monkeypatch, capsys, "audit", tmp_path / "movies.csv", "--out", tmp_path / "audit")
    assert (code, out, err) == (130, "", "interrupted (run the same command again to continue)\n")
    assert signal.getsignal(signal.SIGINT) is before  # in-process callers get their handler back


@pytest.mark.parametrize("raised, code", [(KeyboardInterrupt, 130), (ConfigError("bad"), 2)])
def test_ctrl_c_in_predict_table_says_so(monkeypatch, capsys, tmp_path, raised, code):
    def predict_file(*args, **kwargs):
        raise raised

    monkeypatch.setattr("moviegenre.serving.batch.predict_file", predict_file)
    result = run_moviegenre(monkeypatch, capsys, "predict-table", tmp_path / "movies.csv", "--out",
                            tmp_path / "out.csv")
    message = "interrupted (run the same command again to continue)" if code == 130 else "error: bad"
    assert result == (code, "", message + "\n")


# -- --resume into a folder without a run ----------------------------------------------------------------------------

def test_resume_into_a_folder_without_a_run_is_one_line_before_any_work(monkeypatch, capsys, tmp_path):
    from moviegenre.training import pipeline

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built")

    monkeypatch.setattr(pipeline, "create_model", no_model)
    table, typo = make_tiny_table(tmp_path), tmp_path / "runs" / "typo-folder"
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, "--model", "description-mlp", "--out", typo,
                                    "--resume")
    assert (code, out) == (2, "")
    assert err == (f"error: nothing to resume: no earlier run in {typo} ({typo / 'resume.json'} missing); check the "
                   "folder, or train without --resume\n")
    assert not typo.exists()


def test_resume_into_a_folder_with_a_run_still_trains(monkeypatch, capsys, tmp_path):
    table, run = make_tiny_table(tmp_path), tmp_path / "run"
    options = ("--model", "tfidf-logreg", "--min-genre-count", 3, "--out", run)
    code, out, _ = run_moviegenre(monkeypatch, capsys, "train", table, *options)
    assert code == 0 and re.search(r" in [\d.]+ s -> ", out)
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, *options, "--resume")
    assert code == 0 and out.startswith("trained tfidf-logreg"), err
    assert re.search(r" in [\d.]+ s since resuming -> ", out)  # not the whole run's time: the earlier part's is unknown
    # A run without a checkpoint (no network) is held to its job too: another model, seed or table is no resume.
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, *options, "--resume", "--seed", 3)
    assert (code, out) == (2, "") and err == (f"error: --resume: {run} was started with other seed, split than now; "
                                              "give the same table and options, or train afresh without --resume\n")


# -- an unknown --param ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["tfidf-logreg", "fusion-gmu"])
def test_an_unknown_param_names_the_models_parameters(monkeypatch, capsys, tmp_path, model):
    from moviegenre.models.registry import create_model

    code, out, err = run_moviegenre(monkeypatch, capsys, "train", make_tiny_table(tmp_path), "--model", model,
                                    "--param", "foo=1", "--out", tmp_path / "run")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: --param foo: model '{model}' has no parameter 'foo' (its parameters: ")
    assert len(err.splitlines()) == 1 and "__init__" not in err and "keyword" not in err
    if model == "tfidf-logreg":
        assert err.endswith(f"(its parameters: {TFIDF_PARAMS})\n")
    with pytest.raises(ConfigError) as raised:  # the Python API too
        create_model(model, C=1.0, foo=1)
    assert str(raised.value).startswith(f"model '{model}' has no parameter '")
    assert "__init__" not in str(raised.value)


# -- --no-progress on a model without networks ----------------------------------------------------------------------

def test_no_progress_hides_embedding_logregs_embedding_bars(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MOVIEGENRE_CACHE", str(tmp_path / "cache"))  # nothing cached: every input is embedded
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", make_tiny_table(tmp_path), "--model",
                                    "embedding-logreg", "--min-genre-count", 3, "--no-progress", "--out",
                                    tmp_path / "run")
    assert code == 0 and out.startswith("trained embedding-logreg"), err
    assert err == ""
    assert any((tmp_path / "cache").rglob("*"))  # the inputs were embedded (a bar would have shown)


# -- serve -------------------------------------------------------------------------------------------------------------

def test_serve_on_a_port_in_use_is_one_line_before_the_model_loads(monkeypatch, capsys):
    """It printed 'serving default on http://...', then Uvicorn's '[Errno 98] ... address already in use', exit 3."""
    import socket

    from moviegenre.serving import app as service

    monkeypatch.setattr(service, "create_app", lambda *args: pytest.fail("the model loaded"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_moviegenre(monkeypatch, capsys, "serve", "--port", port)
    assert (code, out) == (2, "")
    assert err == f"error: cannot listen on 127.0.0.1:{port} (Address already in use): give another --port, or stop " \
                  "what uses it\n"


# -- train -------------------------------------------------------------------------------------------------------------

def test_train_says_which_genres_it_left_out_for_want_of_movies(monkeypatch, capsys, tmp_path):
    """On a small table the default minimum keeps few genres: '(2 genres)' was the only sign of the other 19."""
    import json

    table = make_tiny_table(tmp_path)
    lines = table.read_text().splitlines()
    lines += ["tt9000001,W1,1950,Western|Drama,a sheriff rides into town,", "tt9000002,W2,1951,Western,the last duel,",
              "tt9000003,N1,1946,Film-Noir,a detective in the rain,"]
    table.write_text("\n".join(lines) + "\n")
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", table, "--model", "tfidf-logreg", "--out",
                                    tmp_path / "run", "--min-genre-count", 3, "--no-progress")
    assert code == 0, err
    assert out.splitlines()[1] == ("note: 2 genres left out, with fewer than 3 movies: Western (2), Film-Noir (1) "
                                   "(--min-genre-count keeps more)")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["rare_genres"] == {"Western": 2, "Film-Noir": 1}


# -- what a researcher's probe found --------------------------------------------------------------------------------

def test_a_run_without_validation_rows_says_what_it_left_undone(monkeypatch, capsys, tmp_path):
    """--validation 0 gave an untuned model (every threshold 0.5, no early stop) with no word of it."""
    import json

    code, out, err = run_moviegenre(monkeypatch, capsys, "train", make_tiny_table(tmp_path), "--model",
                                    "tfidf-logreg", "--out", tmp_path / "run", "--min-genre-count", 3, "--validation",
                                    0, "--no-progress")
    assert code == 0, err
    assert out.splitlines()[1] == ("note: no validation rows, so every genre's threshold is 0.5, and no network "
                                   "stopped early, kept its best epoch or was refitted on them (--validation, 0.1 "
                                   "unless given, sets them aside)")
    assert set(json.loads((tmp_path / "run" / "model.json").read_text())["genres"])  # it trained
    code, out, err = run_moviegenre(monkeypatch, capsys, "train", make_tiny_table(tmp_path), "--model",
                                    "tfidf-logreg", "--out", tmp_path / "run2", "--min-genre-count", 3, "--no-progress")
    assert code == 0 and "no validation rows" not in out


def test_a_param_given_twice_is_refused(monkeypatch, capsys, tmp_path):
    """The last value won without a word."""
    assert run_moviegenre(monkeypatch, capsys, "train", make_tiny_table(tmp_path), "--model", "tfidf-logreg",
                          "--param", "C=2", "--param", "C=1", "--out", tmp_path / "run") == (
        2, "", "error: --param C given twice; give it once\n")
    assert not (tmp_path / "run").exists()


def test_scoring_a_split_the_run_has_no_rows_of_names_the_split_not_the_inputs(monkeypatch, capsys, tmp_path):
    """It said 'no rows to score with --use description and the model's genres (check that the table has those
    inputs ...)', which sent the person after the table."""
    table, run = make_tiny_table(tmp_path), tmp_path / "run"
    assert run_moviegenre(monkeypatch, capsys, "train", table, "--model", "tfidf-logreg", "--out", run,
                          "--min-genre-count", 3, "--test", 0, "--no-progress")[0] == 0
    said = (f"error: {run}/split.csv: no test rows (the run was trained with none) (score another split, or the whole "
            "of another table without --split)\n")
    assert run_moviegenre(monkeypatch, capsys, "evaluate", run, table, "--split", "test", "--use", "description") == (
        2, "", said)
