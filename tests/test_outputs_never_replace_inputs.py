"""A command whose output path is its own input (a slip of --out or --json) refuses in one line and leaves the input
as it was: predict-table, scrape and imdb basics would have replaced a catalogue, the list of titles to scrape or
IMDb's file with their output; compare and audit a poster named like one of their plots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run_moviegenre

IMDB_TSV = ("tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres\n"
            "tt0000001\tmovie\tA\tA\t0\t2001\t\\N\t90\tDrama\n")


@pytest.fixture
def folder(session_tiny_table_csv, quick_run_copy, tmp_path) -> Path:
    """The tiny table as movies.csv (and, hard-linked, as split.csv) with its posters, IMDb's file and a run, in one
    folder; beside them, copies of a poster named like compare's and audit's plots (suspects.csv: the table with
    top_suspects.png as its first poster)."""
    shutil.copytree(session_tiny_table_csv.parent, tmp_path, dirs_exist_ok=True)
    shutil.move(tmp_path / session_tiny_table_csv.name, tmp_path / "movies.csv")
    os.link(tmp_path / "movies.csv", tmp_path / "split.csv")
    (tmp_path / "title.basics.tsv").write_text(IMDB_TSV, encoding="utf-8")
    for name in ("contact-sheet.png", "top_suspects.png"):
        shutil.copy(tmp_path / "posters" / "tt0000000.png", tmp_path / name)
    (tmp_path / "suspects.csv").write_text((tmp_path / "movies.csv").read_text(encoding="utf-8").replace(
        "posters/tt0000000.png", "top_suspects.png"), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("args", "written", "read"), [
    (("predict-table", "{d}/movies.csv", "--out", "{d}/movies.csv"), "{d}/movies.csv", "{d}/movies.csv"),
    (("predict-table", "{d}/movies.csv", "--out", "{d}/split.csv"), "{d}/split.csv", "{d}/movies.csv"),  # a link
    (("scrape", "{d}/movies.csv", "--out", "{d}"), "{d}/movies.csv", "{d}/movies.csv"),
    (("imdb", "basics", "{d}/title.basics.tsv", "--out", "{d}/title.basics.tsv"), "{d}/title.basics.tsv",
     "{d}/title.basics.tsv"),
    (("train", "{d}/split.csv", "--out", "{d}", "--model", "tfidf-logreg"), "{d}/split.csv", "{d}/split.csv"),
    (("data", "split", "{d}/split.csv", "--out", "{d}"), "{d}/split.csv", "{d}/split.csv"),
    (("audit", "{d}/movies.csv", "--out", "{d}"), "{d}/movies.csv", "{d}/movies.csv"),
    (("audit", "{d}/suspects.csv", "--out", "{d}", "--model", "tfidf-logreg", "--folds", "2", "--min-genre-count",
      "3"), "{d}/top_suspects.png", "{d}/top_suspects.png"),  # a poster of the table
    (("compare", "{d}/contact-sheet.png", "--description", "a ghost", "--run", "{d}/run", "--out", "{d}"),
     "{d}/contact-sheet.png", "{d}/contact-sheet.png"),
    (("evaluate", "{d}/run", "{d}/movies.csv", "--json", "{d}/movies.csv"), "{d}/movies.csv", "{d}/movies.csv"),
    (("evaluate", "{d}/run", "{d}/movies.csv", "--json", "{d}/run/model.json"), "{d}/run/model.json",
     "{d}/run/model.json"),
])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(folder, args, written, read, monkeypatch,
                                                                     capsys):
    files = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    code, _, err = run_moviegenre(monkeypatch, capsys, *(arg.format(d=folder) for arg in args))
    option = "--json" if "--json" in args else "--out"
    assert code == 2, err
    assert err == (f"error: {option}: writing {written.format(d=folder)} would overwrite the input "
                   f"{read.format(d=folder)}; give another path\n")
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == files


@pytest.mark.parametrize(("report", "message"), [
    ("{d}/movies.csv", "--report {d}/movies.csv: is a file; give a folder"),
    ("{d}/run/model.json", "--report {d}/run/model.json: is a file; give a folder"),
    ("{d}/movies.csv/report", "--report {d}/movies.csv/report: {d}/movies.csv is a file; give a folder"),
])
def test_a_report_folder_that_is_a_file_is_refused_before_any_work(folder, report, message, monkeypatch, capsys):
    files = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    code, _, err = run_moviegenre(monkeypatch, capsys, "evaluate", str(folder / "run"), str(folder / "movies.csv"),
                                  "--report", report.format(d=folder))
    assert (code, err) == (2, f"error: {message.format(d=folder)}\n")
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == files
