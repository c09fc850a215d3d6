"""``moviegenre data inspect`` and ``moviegenre data split``: output, files written, one-line errors."""

from __future__ import annotations

import errno
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import draw_poster
from conftest import run_moviegenre as moviegenre
from moviegenre.cli import app

HEADER = "imdb_id,title,year,genres,description,poster"




def console_script() -> str:
    script = Path(sys.executable).with_name("moviegenre")
    return str(script) if script.exists() else shutil.which("moviegenre")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_inspect_prints_counts(monkeypatch, capsys, tiny_table_csv):
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", tiny_table_csv)
    assert (code, err) == (0, "")
    assert "60 movies" in out
    assert re.search(r"poster\s+│\s+40 │ 66\.7%", out)
    assert re.search(r"description\s+│\s+40 │", out)
    assert re.search(r"both\s+│\s+20 │", out)
    assert "no problems found" in out


def test_inspect_json_with_cli_runner(tiny_table_csv):
    result = CliRunner().invoke(app, ["data", "inspect", str(tiny_table_csv), "--json", "--min-genre-count", "20"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["n_movies"], summary["n_posters"], summary["n_descriptions"], summary["n_both"]) == (60, 40, 40, 20)
    assert summary["n_neither"] == 0
    assert sum(summary["genres_per_movie"].values()) == 60
    assert summary["kept_genres"] == sorted(g for g, n in summary["genre_counts"].items() if n >= 20)


def test_inspect_lists_problems_instead_of_failing(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,,\ntt1,B,,Drama,,posters/x.jpg\n")
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0
    assert "2 problems" in out
    assert f"{path}: row 2, field 'imdb_id': duplicate id 'tt1' (first seen in row 1)" in out
    assert f"{path}: row 2, field 'poster': poster file" in out


@pytest.mark.parametrize("as_json", [False, True])
def test_inspect_strict_fails_a_pipeline_where_there_is_a_problem(as_json, monkeypatch, capsys, tmp_path, tiny_table_csv):
    """A data team's pipeline checks a table before training: without --strict, inspect exits 0 whatever it finds."""
    extra = ["--json"] if as_json else []
    bad = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,A plot.,\ntt1,B,,Drama,Another.,\n")
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", bad, "--strict", *extra)
    assert code == 1
    assert ("duplicate id 'tt1'" in out) and (json.loads(out)["problems"] if as_json else "1 problem" in out)
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", tiny_table_csv, "--strict", *extra)
    assert code == 0 and (not json.loads(out)["problems"] if as_json else "no problems found" in out)


def test_inspect_warns_of_genres_that_differ_in_case_or_hold_a_separator(monkeypatch, capsys, tmp_path):
    """'Sci-Fi' and 'sci-fi' were counted as two genres, 'Action, Comedy' as one, and nothing said so."""
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Sci-Fi|Drama,a,\ntt2,B,,sci-fi,b,\n"
                                     'tt3,C,,"Action, Comedy",c,\ntt4,D,,sci-fi|Action; Drama,d,\n')
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--min-genre-count", "1", "--strict")
    assert (code, err) == (0, "")  # train takes them as they are: no problem for --strict
    assert (f"3 warnings\n"
            f"  {path}: field 'genres': genres that differ only in case: 'sci-fi' (2 movies), 'Sci-Fi' (1 movie) (write "
            "each genre one way: they are counted, and learnt, as different)\n"
            f"  {path}: field 'genres': genre 'Action, Comedy' (1 movie) holds ',' (a list split on the wrong "
            "separator? give one genre per name ('|'-separated in a CSV))\n"
            f"  {path}: field 'genres': genre 'Action; Drama' (1 movie) holds ';' (a list split on the wrong "
            "separator? give one genre per name ('|'-separated in a CSV))\n"
            "no problems found\n") in out
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--min-genre-count", "1", "--json")
    summary = json.loads(out)
    assert len(summary["warnings"]) == 3 and summary["problems"] == []
    assert summary["genre_counts"] == {"sci-fi": 2, "Sci-Fi": 1, "Drama": 1, "Action, Comedy": 1, "Action; Drama": 1}


def test_a_genre_holding_a_comma_is_dropped_by_quoting_it_as_in_a_csv(monkeypatch, capsys, tmp_path):
    """'--drop-genres "Action, Comedy"' was split into 'Action' and 'Comedy': such a genre could not be dropped."""
    path = write(tmp_path / "m.csv", f'{HEADER}\ntt1,A,,"Action, Comedy|Drama",a,\ntt2,B,,Drama|Short,b,\n')
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--min-genre-count", "1", "--json",
                              "--drop-genres", 'Short, "Action, Comedy"')
    assert code == 0 and json.loads(out)["kept_genres"] == ["Drama"]
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--drop-genres", '"Action, Comedy')
    assert (code, out) == (2, "")
    assert err == ("error: --drop-genres: cannot read '\"Action, Comedy' as a list (close each quote right before a "
                   "comma or the end: '\"Sci, Fi\",Short')\n")


def test_inspect_warns_of_genres_holding_a_control_character_and_shows_them_escaped(monkeypatch, capsys, tmp_path):
    """A tab or line break inside a quoted cell stays in the genre's name, unseen: printed as it was, 'Com<newline>edy'
    took two rows of the table and 'Ho<carriage return>rror' read as 'Horror'."""
    path = write(tmp_path / "m.csv", f'{HEADER}\ntt1,A,,"Dra\tma",a,\ntt2,B,,"Com\nedy",b,\n'
                                     'tt3,C,,"Ho\rrror|Drama",c,\ntt4,D,,"Z\x1bW",d,\n')
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--min-genre-count", "1", "--strict")
    assert (code, err) == (0, "")  # train takes them as they are: no problem for --strict
    hint = "(a stray character of the cell? it is part of the name, unseen: remove it)"
    assert ("4 warnings\n"
            f"  {path}: field 'genres': genre 'Dra\\tma' (1 movie) holds '\\t' {hint}\n"
            f"  {path}: field 'genres': genre 'Com\\nedy' (1 movie) holds '\\n' {hint}\n"
            f"  {path}: field 'genres': genre 'Ho\\rrror' (1 movie) holds '\\r' {hint}\n"
            f"  {path}: field 'genres': genre 'Z\\x1bW' (1 movie) holds '\\x1b' {hint}\n") in out
    assert all(f"│ {name} " in out for name in (r"Dra\tma", r"Com\nedy", r"Ho\rrror", r"Z\x1bW"))
    assert not re.search("[\x00-\x09\x0b-\x1f]", out)  # one line is one line
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--min-genre-count", "1", "--json")
    summary = json.loads(out)
    assert len(summary["warnings"]) == 4 and summary["warnings"][0].endswith(f"genre 'Dra\\tma' (1 movie) holds "
                                                                             f"'\\t' {hint}")
    assert summary["genre_counts"] == {"Dra\tma": 1, "Com\nedy": 1, "Ho\rrror": 1, "Drama": 1, "Z\x1bW": 1}


def test_inspect_lists_in_row_order_what_train_refuses(monkeypatch, capsys, tmp_path):
    """Row 2's poster is missing, row 3 has no genres, row 4's poster is a text file named .jpg."""
    write(tmp_path / "posters" / "fake.jpg", "not a picture")
    draw_poster(tmp_path / "posters" / "real.png")
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,A plot.,posters/real.png\n"
                                     "tt2,B,,Drama,,posters/gone.jpg\ntt3,C,,,Another plot.,\n"
                                     "tt4,D,,Comedy,,posters/fake.jpg\n")
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0
    assert "2 problems" in out and "no problems found" not in out
    assert out.index("row 2, field 'poster'") < out.index("row 3, field 'genres': no genres")
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path, "--images")
    assert "3 problems" in out
    assert f"{path}: row 4, field 'poster': poster file '{tmp_path / 'posters' / 'fake.jpg'}': not an image" in out
    assert out.index("row 3, field 'genres'") < out.index("row 4, field 'poster'")
    code, _, err = moviegenre(monkeypatch, capsys, "train", path, "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith(f"error: {path}: row 2, field 'poster'")  # the first problem inspect lists
    assert err.rstrip().endswith("1 more problem: 'moviegenre data inspect' lists it)")


def test_inspect_says_one_problem(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,A plot.,\ntt2,B,,,Another plot.,\n")
    out = moviegenre(monkeypatch, capsys, "data", "inspect", path)[1]
    assert "\n1 problem\n" in out and "2 movies" in out


@pytest.mark.parametrize(("text", "problem"), [
    (f"{HEADER}\n", "the table has no movies (add rows below the header)"),
    # what 'moviegenre imdb basics' writes: titles with IMDb's genres, before any scraping
    ("imdb_id,title,year,genres\ntt1,A,2001,Drama\ntt2,B,2002,Comedy|Drama\n",
     ("no movie has a poster or a description (fill the poster or description column; a table from 'imdb basics' "
      "needs 'moviegenre scrape' first)")),
    (f"{HEADER}\ntt1,A,,,A plot.,\n", "no movie has genres (fill the genres column, '|'-separated)"),
])
def test_a_table_without_a_usable_movie_is_reported_as_such(monkeypatch, capsys, tmp_path, text, problem):
    path = write(tmp_path / "m.csv", text)
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0
    assert f"  {path}: {problem}" in out and "no problems found" not in out
    code, _, err = moviegenre(monkeypatch, capsys, "train", path, "--out", tmp_path / "run")
    assert (code, err.startswith(f"error: {path}: {problem.split(' (')[0]} (")) == (2, True)


def test_inspect_refuses_a_negative_number_of_problems_to_list(monkeypatch, capsys, tiny_table_csv):
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", tiny_table_csv, "--max-problems", "-1")
    assert (code, out) == (2, "")
    assert err == ("error: Invalid value for '--max-problems': Input should be greater than or equal to 0 "
                   "(see 'moviegenre data inspect --help')\n")


def test_split_writes_files_and_reports_proportions(monkeypatch, capsys, tiny_table_csv, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = moviegenre(monkeypatch, capsys, "data", "split", tiny_table_csv, "--out", out_dir,
                                "--min-genre-count", "5", "--seed", "3")
    assert (code, err) == (0, "")
    assert "60 movies -> train" in out
    assert re.search(r"largest difference from the whole: \d+\.\d\d percentage points", out)
    assert json.loads((out_dir / "genres.json").read_text())["genres"] == ["Action", "Comedy", "Drama", "Horror",
                                                                            "Romance"]
    lines = (out_dir / "split.csv").read_text().splitlines()
    assert lines[0] == "imdb_id,split" and len(lines) == 61


def test_split_is_seeded(monkeypatch, capsys, tiny_table_csv, tmp_path):
    contents = []
    for seed, folder in [(1, "a"), (1, "b"), (2, "c")]:
        moviegenre(monkeypatch, capsys, "data", "split", tiny_table_csv, "--out", tmp_path / folder,
                   "--seed", seed, "--min-genre-count", "5")
        contents.append((tmp_path / folder / "split.csv").read_text())
    assert contents[0] == contents[1] != contents[2]


def test_options_a_given_split_decides_are_said_to_be_unused(monkeypatch, capsys, tiny_table_csv, tmp_path):
    import pandas as pd

    own = tmp_path / "own.csv"
    frame = pd.read_csv(tiny_table_csv, keep_default_na=False)
    frame.assign(split=["train"] * 40 + ["validation"] * 10 + ["test"] * 10).to_csv(own, index=False)
    code, out, err = moviegenre(monkeypatch, capsys, "data", "split", own, "--out", tmp_path / "a", "--test", "0.3",
                                "--min-genre-count", "5")
    assert code == 0, err
    assert out.startswith(f"note: {own} gives each movie's split (used as is): --test not used\n")
    assert "train 40, validation 10, test 10" in out
    code, out, err = moviegenre(monkeypatch, capsys, "data", "split", tiny_table_csv, "--out", tmp_path / "b",
                                "--min-genre-count", "5")
    assert code == 0 and "note:" not in out, err
    code, out, err = moviegenre(monkeypatch, capsys, "train", tiny_table_csv, "--model", "tfidf-logreg", "--out",
                                tmp_path / "run", "--split", tmp_path / "b" / "split.csv", "--validation", "0.2",
                                "--min-genre-count", "3", "--no-progress")
    assert code == 0, err
    policy = (f"note: {tmp_path / 'b' / 'genres.json'} beside the split keeps genres of at least 5 movies (Short "
              "dropped); this run keeps genres of at least 3 movies (Short dropped) (give --min-genre-count and "
              "--drop-genres as there for the same genres)")
    assert out.splitlines()[:2] == [
        f"note: {tmp_path / 'b' / 'split.csv'} decides each movie's split: --validation not used", policy]


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (the input to give, the expected error message)."""
    def csv(name: str, text: str | bytes, problem: str) -> tuple[Path, str]:
        path = write(tmp_path / name, text)
        return path, f"{path}: {problem}"

    mm, bad_json = tmp_path / "mm", tmp_path / "mm2" / "dataset" / "0000001.json"
    write(mm / "dataset" / "0000001.json", '{"title": "A", "genres": ["Drama"], "plot": ["x"]}')
    write(mm / "split.json", '{"train": ["0000001"], "holdout": []}')
    write(bad_json, '{"title": ')
    return {
        "missing column": csv("a.csv", "imdb_id,title\ntt1,A\n", "field 'genres': missing column 'genres' "
                              "(found: imdb_id, title) (add the column to the header row)"),
        "duplicate id": csv("b.csv", f"{HEADER}\ntt1,A,,Drama,,\ntt1,B,,Drama,,\n",
                            "row 2, field 'imdb_id': duplicate id 'tt1' (first seen in row 1) (remove or merge the duplicate row)"),
        "empty genres": csv("c.csv", f"{HEADER}\ntt1,A,,Drama,,\ntt2,B,,,,\n",
                            "row 2, field 'genres': no genres in a labelled table (give at least one genre, '|'-separated)"),
        "missing poster": csv("d.csv", f"{HEADER}\ntt1,A,,Drama,,posters/tt1.jpg\n",
                              f"row 1, field 'poster': poster file '{tmp_path / 'posters' / 'tt1.jpg'}' "
                              "does not exist (fix the path or leave the field empty)"),
        "non-UTF-8": csv("e.csv", f"{HEADER}\ntt1,Caf\xe9,,Drama,,\n".encode("latin-1"),
                         "line 2 is not UTF-8 text (byte 0xe9) (re-save the file as UTF-8)"),
        "bad year": csv("f.csv", f"{HEADER}\ntt1,A,soon,Drama,,\n",
                        "row 1, field 'year': year 'soon' is not a number (use a 4-digit year or leave it empty)"),
        "bad one-hot": csv("g.csv", "Id,Genre,Drama\ntt1,[],x\n",
                           "row 1, field 'Drama': value 'x' is not 0 or 1 (one-hot genre columns hold 0 or 1)"),
        "invalid JSON": (tmp_path / "mm2",
                         f"{bad_json}: not valid JSON (Expecting value at line 1) (fix or remove the file)"),
        "unknown split": (mm, f"{mm / 'split.json'}: field 'holdout': unknown split 'holdout' "
                              + "(use train, dev and test)"),
    }


@pytest.mark.parametrize("case", ["missing column", "duplicate id", "empty genres", "missing poster", "non-UTF-8",
                                  "bad year", "bad one-hot", "invalid JSON", "unknown split"])
def test_split_errors_are_one_line_with_exit_code_2(monkeypatch, capsys, tmp_path, case):
    path, message = bad_inputs(tmp_path)[case]
    code, out, err = moviegenre(monkeypatch, capsys, "data", "split", path, "--out", tmp_path / "run")
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["bad year", "bad one-hot"])
def test_inspect_lists_a_value_that_does_not_parse_with_the_other_problems(monkeypatch, capsys, tmp_path, case):
    path, message = bad_inputs(tmp_path)[case]
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0 and f"  {message}\n" in out


def test_inspect_lists_a_bad_year_in_row_order(monkeypatch, capsys, tmp_path):
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,,posters/x.jpg\ntt2,B,1849,Drama,A plot.,\n"
                                     "tt1,C,,Drama,A plot.,\n")
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0 and "3 problems" in out
    assert out.index("row 1, field 'poster'") < out.index("row 2, field 'year': year '1849' is not a year") < out.index(
        "row 3, field 'imdb_id': duplicate id")
    code, _, err = moviegenre(monkeypatch, capsys, "train", path, "--out", tmp_path / "run")
    assert code == 2 and err.startswith(f"error: {path}: row 2, field 'year'")  # a value that does not parse stops it


@pytest.mark.parametrize("case", ["non-UTF-8", "invalid JSON"])
def test_inspect_errors_are_one_line_with_exit_code_2(monkeypatch, capsys, tmp_path, case):
    path, message = bad_inputs(tmp_path)[case]
    assert moviegenre(monkeypatch, capsys, "data", "inspect", path) == (2, "", f"error: {message}\n")


@pytest.mark.parametrize("split_json, problem", [
    ("nope", "not valid JSON (Expecting value at line 1) (fix or remove the file)"),
    ("[1]", 'expected {"train": [...], "dev": [...], "test": [...]}'),
    ('{"train": "0000001"}', "field 'train': 'train' must be a list of ids (fix or remove the file)"),
    ('{"train": ["0000001"], "holdout": []}', "field 'holdout': unknown split 'holdout' (use train, dev and test)"),
    ('{"train": ["0000001"], "dev": ["0000001"]}',
     "field 'dev': '0000001' is listed under both 'train' and 'dev' (list each movie in one split)"),
])
def test_inspect_lists_a_split_json_it_cannot_use_with_the_other_problems(monkeypatch, capsys, tmp_path, split_json,
                                                                          problem):
    """inspect stopped at the split file, hiding every other problem train would meet; train still refuses it."""
    mm = tmp_path / "mm"
    write(mm / "dataset" / "0000001.json", '{"title": "A", "genres": ["Drama"], "plot": ["x"]}')
    write(mm / "dataset" / "0000002.json", '{"title": "B", "genres": [], "plot": ["y"]}')
    write(mm / "split.json", split_json)
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", mm, "--min-genre-count", "1")
    assert (code, err) == (0, "")
    assert (f"2 problems\n  {mm / 'split.json'}: {problem}\n  {mm}: row 2, field 'genres': no genres in a labelled "
            "table") in out
    code, out, err = moviegenre(monkeypatch, capsys, "train", mm, "--out", tmp_path / "run")
    assert (code, out, err) == (2, "", f"error: {mm / 'split.json'}: {problem}\n")


@pytest.mark.parametrize(("header", "said"), [
    ("title", "field 'imdb_id': missing column 'imdb_id' (found: title) (add the column to the header row)"),
    ("plot", "unrecognised columns ['plot'] (expected imdb_id,genres,"),
])
def test_inspect_unrecognised_columns(monkeypatch, capsys, tmp_path, header, said):
    # inspect reads tables as unlabelled (only imdb_id is required), so a missing 'genres' is no error there
    path = write(tmp_path / "h.csv", f"{header}\nA\n")
    code, out, err = moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: {said}")
    assert err.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["data", "inspect", "nope.csv"], "error: nope.csv: no such file or folder (check the path)\n"),
    (["data", "split", "{csv}", "--out", "x", "--validation", "0.5", "--test", "0.5",
      "--min-genre-count", "5"],
     ("error: split: validation 0.5 and test 0.5 must each be 0 or more and together below 1 (use fractions such as "
     "0.1)\n")),
    (["data", "split", "{csv}", "--out", "x", "--test", "-0.1", "--min-genre-count", "5"],
     ("error: split: validation 0.1 and test -0.1 must each be 0 or more and together below 1 (use fractions such as "
     "0.1)\n")),
    (["data", "split", "{csv}", "--out", "x", "--seed", "-1", "--min-genre-count", "5"], "error: --seed -1: give 0 or more\n"),
])
def test_other_user_errors(monkeypatch, capsys, tiny_table_csv, args, message):
    args = [a.replace("{csv}", str(tiny_table_csv)) for a in args]
    assert moviegenre(monkeypatch, capsys, *args)[::2] == (2, message)


@pytest.mark.parametrize("command", [("data", "inspect"), ("data", "split", "--out", "{out}"),
                                     ("train", "--out", "{out}"), ("audit", "--out", "{out}")])
def test_a_genre_to_drop_that_no_movie_has_is_refused_by_every_command(monkeypatch, capsys, tiny_table_csv, tmp_path,
                                                                      command):
    """'--drop-genres horror' dropped nothing where the table says 'Horror': the genre was kept, unseen."""
    command = [arg.replace("{out}", str(tmp_path / "out")) for arg in command]
    code, out, err = moviegenre(monkeypatch, capsys, *command[:1 + (command[0] == "data")], tiny_table_csv,
                                *command[1 + (command[0] == "data"):], "--min-genre-count", "3",
                                "--drop-genres", "Short,horror")
    assert (code, out) == (2, "")
    assert err == "error: --drop-genres: no movie has the genre 'horror' (did you mean 'Horror'?)\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "said"), [
    (["data", "split", "x.csv"], "Missing option '--out' (see 'moviegenre data split --help')"),
    (["data", "inspect"], "Missing argument 'path' (see 'moviegenre data inspect --help')"),
    (["data", "frobnicate"], "No such command 'frobnicate' (see 'moviegenre data --help')"),
    (["predict", "--tile", "Alien"], "No such option: --tile (Possible options: --title) (see 'moviegenre predict --help')"),
])
@pytest.mark.parametrize("rich", [True, False], ids=["rich", "TYPER_USE_RICH=0"])
def test_usage_errors_are_one_line_and_exit_2(monkeypatch, capsys, args, said, rich):
    """Click's refusals were a usage line, a hint line and a framed panel: four lines where ours are one (Click's own
    four lines, without the panel, where TYPER_USE_RICH=0 turns Typer's rich mode off)."""
    import typer.core

    monkeypatch.setattr(typer.core, "HAS_RICH", rich)  # read from the environment once, as Typer is imported
    assert moviegenre(monkeypatch, capsys, *args) == (2, "", f"error: {said}\n")


@pytest.mark.parametrize(("args", "a_command"), [([], "predict"), (["data"], "inspect")])
def test_no_arguments_prints_the_help_and_no_error(monkeypatch, capsys, args, a_command):
    code, out, err = moviegenre(monkeypatch, capsys, *args)
    assert (code, err) == (2, "")
    assert f"Usage: {' '.join(['moviegenre', *args])} [OPTIONS] COMMAND" in out and a_command in out


def test_run_passes_on_exit_codes(monkeypatch, capsys):
    import typer

    cli_app = importlib.import_module("moviegenre.cli.app")  # the package attribute 'app' is the Typer app
    tiny = typer.Typer()

    @tiny.command()
    def fail(code: int) -> None:
        raise typer.Exit(code)

    monkeypatch.setattr(cli_app, "app", tiny)
    assert moviegenre(monkeypatch, capsys, "3")[0] == 3


@pytest.mark.parametrize(("code", "hint"), [(errno.EACCES, "check its permissions or choose another path"),
                                             (errno.ENOSPC, "free some space or choose another folder")])
def test_machine_refusals_are_one_line(monkeypatch, capsys, code, hint):
    # A read-only output folder or a full disk, met by any command (as root, tests cannot make a folder read-only).
    import typer

    cli_app = importlib.import_module("moviegenre.cli.app")
    tiny = typer.Typer()

    @tiny.command()
    def write(path: str) -> None:
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(cli_app, "app", tiny)
    exit_code, out, err = moviegenre(monkeypatch, capsys, "/out/explain/poster.png")
    assert exit_code == 2 and out == ""
    assert err == f"error: /out/explain/poster.png: {os.strerror(code)} ({hint})\n"


def test_other_os_errors_stay_tracebacks(monkeypatch, capsys):
    import typer

    cli_app = importlib.import_module("moviegenre.cli.app")
    tiny = typer.Typer()

    @tiny.command()
    def fail(path: str) -> None:
        raise OSError(errno.EINVAL, "Invalid argument", path)  # not the machine's refusal: a bug to see whole

    monkeypatch.setattr(cli_app, "app", tiny)
    with pytest.raises(OSError, match="Invalid argument"):
        moviegenre(monkeypatch, capsys, "x")


def test_help_exits_0(monkeypatch, capsys):
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "--help")
    assert code == 0 and "inspect" in out and "split" in out


def test_console_script_error_path(tmp_path):
    path = write(tmp_path / "m.csv", f"{HEADER}\ntt1,A,,Drama,,\ntt1,B,,Drama,,\n")
    result = subprocess.run([console_script(), "data", "split", str(path), "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == (f"error: {path}: row 2, field 'imdb_id': duplicate id 'tt1' (first seen in row 1) (remove or merge the duplicate row)\n")
    assert result.stdout == ""


def test_console_script_inspects_the_real_table(shared_data):
    result = subprocess.run([console_script(), "data", "inspect", str(shared_data / "movies.csv")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "13,659 movies" in result.stdout
    for name, count in [("poster", "6,543"), ("description", "9,052"), ("both", "2,291")]:  # 359 placeholder plots
        assert re.search(rf"{name}\s+│\s+{count} │", result.stdout)
    assert "no problems found" in result.stdout


def test_real_split_report(monkeypatch, capsys, shared_data, tmp_path):
    code, out, _ = moviegenre(monkeypatch, capsys, "data", "split", shared_data / "movies.csv", "--out", tmp_path)
    assert code == 0
    assert "13,659 movies -> train" in out
    largest = float(re.search(r"largest difference from the whole: ([\d.]+) percentage points", out).group(1))
    assert largest < 2.0
    assert len((tmp_path / "split.csv").read_text().splitlines()) == 13_660


@pytest.mark.parametrize(("args", "where"), [
    (["data", "split", "{csv}", "--out", "", "--min-genre-count", "5"], "'--out'"),
    (["train", "{csv}", "--out", "", "--min-genre-count", "5"], "'--out'"),
    (["predict", "--poster", "", "--description", "A heist."], "'--poster'"),
    (["compare", ""], "'POSTER'"),
    (["evaluate", "", "{csv}"], "'run_dir'"),
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(monkeypatch, capsys, tiny_table_csv, tmp_path,
                                                                   args, where):
    """An unset shell variable ('--out "$DIR"') gave Path(''), which is '.': split.csv was written into the folder
    the command ran in, and a poster was reported as '.: not a regular file'."""
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, out, err = moviegenre(monkeypatch, capsys, *[a.replace("{csv}", str(tiny_table_csv)) for a in args])
    assert (code, out) == (2, "")
    assert err.startswith(f"error: Invalid value for {where}: an empty path (give a file or folder name) (see ")
    assert sorted(tmp_path.rglob("*")) == before
