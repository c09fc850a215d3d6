"""Bad input to `train` and `predict-table`: one line and exit code 2, before any model loads where it can be,
and a finished run left as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import run_moviegenre

RUN_FILES = ("split.csv", "genres.json", "model.json", "model.safetensors", "run.json")


def assert_one_line(code: int, err: str, starts: str) -> None:
    assert code == 2, err
    assert err.startswith(f"error: {starts}") and err.count("\n") == 1 and "Traceback" not in err, err


# -- train ----------------------------------------------------------------------------------------------------

# Another seed and genre policy than the finished run's: had split.csv or genres.json been written, they would differ.
OTHER_RUN = ("--seed", "1", "--min-genre-count", "5", "--no-progress")


@pytest.mark.parametrize(("args", "starts"), [
    (("--model", "nope"), "unknown model 'nope'"),
    (("--model", "tfidf-logreg", "--param", "C=abc"), "--param: parameter 'C' is 'abc', expected float (model 'tfidf"),
    (("--model", "tfidf-logreg", "--param", "nb=1"), "--param: parameter 'nb' is 1, expected bool (model 'tfidf"),
    (("--model", "tfidf-logreg", "--param", "no_such=1"), "--param no_such: model 'tfidf-logreg' has no parameter 'no_such'"),
    (("--model", "tfidf-logreg", "--device", "bogus"), "--device bogus: unknown device"),
    (("--model", "tfidf-logreg", "--devices", "0"), "--devices 0: give a whole number in [1, 1024]"),
    (("--model", "tfidf-logreg", "--num-nodes", "0"), "--num-nodes 0: give a whole number in [1, 100000]"),
    (("--model", "tfidf-logreg", "--max-epochs", "0"), "--max-epochs 0: give a whole number in [1, 100000]"),
    # A process a device (DDP on CPUs too): --devices 5000 started thousands; an epoch cap of a million trained on.
    (("--model", "fusion-gmu", "--devices", "5000"), "--devices 5000: give a whole number in [1, 1024]"),
    (("--model", "fusion-gmu", "--max-epochs", "1000000"), "--max-epochs 1000000: give a whole number in [1, 100000]"),
    (("--model", "tfidf-logreg", "--device", "cuda"), "--device cuda: this machine has no CUDA GPU"),
])
def test_a_bad_model_or_option_leaves_a_finished_run_byte_identical(args, starts, quick_run_copy,
                                                                    session_tiny_table_csv, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU, whatever this one has
    before = {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES}
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", quick_run_copy,
                                  *args, *OTHER_RUN)
    assert_one_line(code, err, starts)
    assert {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES} == before


@pytest.mark.parametrize("seed, message", [("-1", "--seed -1: give 0 or more"),
                                           ("4294967296", "--seed 4294967296: give at most 2147483647")])
def test_a_seed_out_of_range_leaves_a_finished_run_byte_identical(quick_run_copy, session_tiny_table_csv, monkeypatch,
                                                                  capsys, seed, message):
    before = {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES}
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", quick_run_copy,
                                  "--model", "tfidf-logreg", "--seed", seed, "--no-progress")
    assert_one_line(code, err, message)
    assert {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES} == before


def test_a_fit_that_fails_leaves_a_finished_run_byte_identical(quick_run_copy, session_tiny_table_csv, monkeypatch):
    from moviegenre.models.tfidf import TfidfLogReg
    from moviegenre.training.pipeline import train

    def fails(*args, **kwargs):
        raise RuntimeError("the fit failed")

    monkeypatch.setattr(TfidfLogReg, "_fit", fails)
    before = {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES}
    with pytest.raises(RuntimeError, match="the fit failed"):
        train(session_tiny_table_csv, "tfidf-logreg", quick_run_copy, seed=1, min_genre_count=5, progress=False)
    assert {name: (quick_run_copy / name).read_bytes() for name in RUN_FILES} == before


@pytest.mark.parametrize(("option", "value"), [("--device", "bogus"), ("--devices", "0"), ("--num-nodes", "0"),
                                               ("--max-epochs", "0")])
def test_train_options_are_checked_before_the_table_is_read(option, value, tmp_path, monkeypatch, capsys):
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", tmp_path / "missing.csv", "--out", tmp_path / "run",
                                  option, value)
    assert_one_line(code, err, f"{option} {value}: ")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["train", "audit"])
def test_a_poster_that_does_not_decode_is_named_by_its_row(command, tiny_table_csv, tmp_path, monkeypatch, capsys):
    # The file exists (the table's check passes); it fails only as the model embeds it: the loader knows only the file.
    broken = tiny_table_csv.parent / "posters" / "tt0000000.png"
    broken.write_bytes(b"not an image")
    extra = ("--model", "poster-mlp", "--max-epochs", "1", "--min-genre-count", "3")
    extra += ("--folds", "2") if command == "audit" else ("--no-progress",)
    code, _, err = run_moviegenre(monkeypatch, capsys, command, tiny_table_csv, "--out", tmp_path / "out", *extra)
    if command == "audit":  # it says which genres it audits before its folds, where the poster is first decoded
        plan, err = err.split("\n", 1)
        assert plan.startswith("auditing ")
    assert_one_line(code, err, f"{tiny_table_csv}: row 1, field 'poster': poster file '{broken}': not an image (give "
                               "a JPEG, PNG, WebP or GIF poster; 'moviegenre data inspect --images' lists every such")


def test_evaluate_names_a_poster_that_does_not_decode_by_its_row(tiny_table_csv, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    args = ("--model", "poster-mlp", "--max-epochs", "1", "--min-genre-count", "3", "--no-progress")
    assert run_moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--out", run, *args)[0] == 0
    broken = tiny_table_csv.parent / "posters" / "tt0000003.png"  # row 4, a test row or not: every split is scored
    broken.write_bytes(b"not an image")
    code, _, err = run_moviegenre(monkeypatch, capsys, "evaluate", run, tiny_table_csv)
    assert_one_line(code, err, f"{tiny_table_csv}: row 4, field 'poster': poster file '{broken}': not an image")


def test_a_run_folder_that_is_a_file_is_one_line(session_tiny_table_csv, tmp_path, monkeypatch, capsys):
    (tmp_path / "run").write_text("notes")
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", tmp_path / "run")
    assert_one_line(code, err, f"--out {tmp_path / 'run'}: is a file")
    assert (tmp_path / "run").read_text() == "notes"


# -- predict-table --------------------------------------------------------------------------------------------

HEADER = "imdb_id,title,year,genres,description,poster\n"
ROWS = "".join(f"tt{i:07d},Movie {i},2001,,funny laugh joke,\n" for i in range(40))


def _table(tmp_path: Path, problem: str) -> tuple[Path, str]:
    """A table with ``problem``, and the start of the error that must name it."""
    path = tmp_path / "movies.csv"
    if problem == "latin-1 after 40 rows":
        path.write_bytes((HEADER + ROWS).encode() + b"tt9,caf\xe9,2000,,x,\n")
        return path, f"{path}: line 42 is not UTF-8 text (byte 0xe9)"
    if problem == "unterminated quote":
        path.write_text(HEADER + ROWS + 'tt9,"unterminated,2000,,x,\n' + ROWS)
        return path, f"{path}: not a readable CSV: unexpected end of data, in the row starting on line 42"
    if problem == "too many fields":
        path.write_text(HEADER + ROWS + "tt9,a,2000,,x,,extra\n")
        return path, f"{path}: row 41: 7 fields, but the header has 6 (put double quotes around values"
    if problem == "empty":
        path.write_bytes(b"")
        return path, f"{path}: the file is empty"
    if problem == "missing":
        return path, f"{path}: no such file or folder"
    if problem == "named pipe":
        os.mkfifo(path)  # opening it would wait for a writer forever
        return path, f"{path}: not a regular file or folder (a pipe, socket or device)"
    if problem == "folder":
        path.mkdir()
        return path, f"{path}: no <id>.json files found"
    path = tmp_path / "movies.parquet"
    path.write_bytes(b"PAR1 not really" if problem == "damaged parquet" else b"")
    return path, f"{path}: not a readable Parquet table ("


@pytest.mark.parametrize("problem", ["latin-1 after 40 rows", "unterminated quote", "too many fields", "empty", "missing",
                                     "named pipe", "folder", "damaged parquet", "empty parquet"])
def test_a_bad_table_is_one_line_before_the_model_loads(problem, session_quick_run, tmp_path, no_model_load,
                                                        monkeypatch, capsys):
    path, starts = _table(tmp_path, problem)
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", path, "--out", tmp_path / "p.csv",
                                  "--run", session_quick_run, "--batch-size", "16", "--no-progress")
    assert_one_line(code, err, starts)
    assert not (tmp_path / "p.csv").exists()


def test_a_missing_table_is_named_before_the_run_folder(tmp_path, monkeypatch, capsys):
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", tmp_path / "missing.csv",
                                  "--out", tmp_path / "p.csv", "--run", tmp_path / "no-run")
    assert_one_line(code, err, f"{tmp_path / 'missing.csv'}: no such file or folder")


@pytest.mark.parametrize(("args", "starts"), [(("--batch-size", "0"), "--batch-size 0: give a whole number in [1, 1048576]"),
                                              (("--out", "OUT_FOLDER"), "--out OUT_FOLDER: is a folder")])
def test_bad_options_are_one_line_before_the_model_loads(args, starts, session_tiny_table_csv, session_quick_run,
                                                         tmp_path, no_model_load, monkeypatch, capsys):
    folder = tmp_path / "predictions.csv"
    folder.mkdir()
    args, starts = [a.replace("OUT_FOLDER", str(folder)) for a in args], starts.replace("OUT_FOLDER", str(folder))
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", session_tiny_table_csv,
                                  "--out", tmp_path / "p.csv", "--run", session_quick_run, *args)
    assert_one_line(code, err, starts)
    assert not (tmp_path / "p.csv.parts").exists() and not any(folder.iterdir())


@pytest.mark.parametrize(("damage", "problem"), [
    ('{"table": ', "not valid JSON ("),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),  # was a RecursionError traceback
    ("pipe", "not a regular file"),  # reading it waited for ever
])
def test_a_damaged_job_file_is_one_line_naming_the_way_out(session_tiny_table_csv, session_quick_run, tmp_path,
                                                            monkeypatch, capsys, damage, problem):
    out, parts = tmp_path / "p.csv", tmp_path / "p.csv.parts"
    parts.mkdir()
    (parts / "part-000000.parquet").write_bytes(b"a part")  # the job file matters only where parts were written
    if damage == "pipe":
        os.mkfifo(parts / "job.json")
    else:
        (parts / "job.json").write_text(damage)
    args = ("predict-table", session_tiny_table_csv, "--out", out, "--run", session_quick_run, "--no-progress")
    code, _, err = run_moviegenre(monkeypatch, capsys, *args)
    assert_one_line(code, err, f"{parts / 'job.json'}: {problem}")
    assert err.rstrip().endswith(f"(pass --restart, or delete {parts}, to predict the table from the start)")

    code, _, err = run_moviegenre(monkeypatch, capsys, *args, "--restart")
    assert code == 0, err
    assert len(pd.read_csv(out)) == 60 and not parts.exists()


@pytest.mark.parametrize("entry", ["train", "audit"])
def test_a_misspelt_training_option_of_the_python_api_is_refused_not_ignored(entry, tmp_path):
    from moviegenre.errors import ConfigError
    from moviegenre.evaluation.audit import audit
    from moviegenre.training.pipeline import train

    call = {"train": lambda: train(tmp_path / "missing.csv", "fusion-gmu", tmp_path / "run", max_epoch=3),
            "audit": lambda: audit(tmp_path / "missing.csv", tmp_path / "audit", max_epoch=3)}[entry]
    with pytest.raises(ConfigError, match=r"^unknown training option 'max_epoch' \(known: max_epochs, batch_size, "):
        call()
    assert not (tmp_path / "run").exists() and not (tmp_path / "audit").exists()
