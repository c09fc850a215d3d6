"""Batch prediction of a whole table: same rows as Predictor.predict_table, resumable, and on Ray Data."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import run_moviegenre
from moviegenre.cli import app
from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError, DataError, MovieGenreError
from moviegenre.serving import batch
from moviegenre.serving.batch import predict_file
from moviegenre.serving.predictor import Predictor


@pytest.fixture(scope="module")
def tiny_run(session_tiny_table_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from moviegenre.training.pipeline import train

    out = tmp_path_factory.mktemp("batch-run")
    train(session_tiny_table_csv, "fusion-gmu", out / "run", min_genre_count=5, max_epochs=2, progress=False)
    return out / "run"


@pytest.fixture(scope="module")
def expected(tiny_run: Path, session_tiny_table_csv: Path) -> pd.DataFrame:
    """Predictor.predict_table on the whole table at once: what every batch mode must reproduce."""
    table = read_table(session_tiny_table_csv, labelled=False)
    return pd.concat(list(Predictor(tiny_run).predict_table(table)), ignore_index=True)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test fails if the model loads: what it checks must come before."""
    def load(*args, **kwargs):
        raise AssertionError("the model loaded")

    monkeypatch.setattr(batch, "Predictor", load)


def table_lines(table: Path) -> list[str]:
    """The tiny table's lines, header first, its posters by absolute path: an edited copy can live anywhere."""
    return table.read_text().replace(",posters/", f",{table.parent}/posters/").splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def write_table(csv: Path, lines: list[str], suffix: str) -> Path:
    """``lines`` as the CSV ``csv``, and, for ``suffix`` .parquet, as a Parquet table of its text beside it."""
    write_lines(csv, lines)
    if suffix == ".csv":
        return csv
    table = csv.with_suffix(suffix)
    pd.read_csv(csv, dtype=str, keep_default_na=False).to_parquet(table)
    return table


def unread_line(count: int, run: Path, reads: str = "a poster or a description") -> str:
    """The one warning of a table with ``count`` movies the model of ``run`` cannot read (it reads ``reads``)."""
    return (f"{count} {'movie has' if count == 1 else 'movies have'} no input {run}'s model reads (it reads {reads}; "
            "a placeholder such as 'Add a Plot »' is no description): written without genres")


def with_placeholder_plots(table: Path, folder: Path, rows: tuple[int, ...] = (2, 5)) -> Path:
    """The tiny table with the description of ``rows`` (movies with no poster) a source's placeholder for none."""
    lines = table_lines(table)
    for row in rows:
        fields = lines[row].split(",")
        assert not fields[-1]  # no poster: the placeholder is all the movie has
        lines[row] = ",".join([*fields[:4], "Add a Plot »", ""])
    return write_lines(folder / "placeholders.csv", lines)


class KilledAfter(Predictor):
    """A predictor whose process 'dies' at its n-th batch; counts the batches it predicts."""

    def __init__(self, run_dir: Path, die_at: int | None = None) -> None:
        super().__init__(run_dir)
        self.die_at, self.calls = die_at, 0

    def predict_table(self, table, batch_size=4096):
        self.calls += 1
        if self.calls == self.die_at:
            raise KeyboardInterrupt
        yield from super().predict_table(table, batch_size)


def test_local_batches_equal_predict_table(tiny_run, session_tiny_table_csv, expected, tmp_path):
    out = predict_file(session_tiny_table_csv, tmp_path / "p.parquet", tiny_run, batch_size=16, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
    assert not (tmp_path / "p.parquet.parts").exists()


def test_a_parquet_file_names_the_model_and_thresholds_that_made_it(tiny_run, session_tiny_table_csv, tmp_path):
    """Predictions a data team keeps for months said nothing of the model or the thresholds behind them."""
    import json

    import pyarrow.parquet as pq

    out = predict_file(session_tiny_table_csv, tmp_path / "p.parquet", tiny_run, batch_size=16, progress=False)
    about = json.loads(pq.read_schema(out).metadata[b"moviegenre"])
    predictor = Predictor(tiny_run)
    assert about == {"model": "fusion-gmu", "model_version": predictor.version, "run": str(tiny_run.resolve()),
                     "table": str(session_tiny_table_csv.resolve()),
                     "thresholds": {g: round(float(t), 4) for g, t in zip(predictor.genres, predictor.thresholds)}}
    written = pd.read_parquet(out)  # the thresholds remake predicted_genres from the (rounded) probabilities
    for _, row in written.iterrows():
        for genre, threshold in about["thresholds"].items():
            if abs(row[f"p_{genre}"] - threshold) > 1e-4:
                assert (row[f"p_{genre}"] > threshold) == (genre in row["predicted_genres"].split("|"))
    assert written["predicted_genres"].str.len().gt(0).any()


def test_the_progress_bar_knows_the_total(tiny_run, session_tiny_table_csv, tmp_path, capsys):
    predict_file(session_tiny_table_csv, tmp_path / "p.parquet", tiny_run, batch_size=16)
    assert "60/60 [" in capsys.readouterr().err  # movies done of all, then elapsed<remaining


def test_a_killed_run_resumes_where_it_stopped(tiny_run, session_tiny_table_csv, expected, tmp_path):
    out = tmp_path / "p.parquet"
    with pytest.raises(KeyboardInterrupt):
        predict_file(session_tiny_table_csv, out, batch_size=16, progress=False,
                     predictor=KilledAfter(tiny_run, die_at=3))
    parts = sorted(p.name for p in (tmp_path / "p.parquet.parts").glob("part-*"))
    assert parts == ["part-000000.parquet", "part-000001.parquet"] and not out.exists()

    with pytest.raises(ConfigError, match="--restart"):  # other batch size: the parts would not line up
        predict_file(session_tiny_table_csv, out, tiny_run, batch_size=32, progress=False)

    again = KilledAfter(tiny_run)
    predict_file(session_tiny_table_csv, out, batch_size=16, progress=False, predictor=again)
    assert again.calls == 2  # 60 rows = 4 batches of 16; the first 2 were already written
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


def test_a_refused_resume_says_what_differs(tiny_run, session_tiny_table_csv, session_quick_run, tmp_path):
    """A table touched since (copied, saved unchanged) was refused as 'another table, model, batch size or engine'; it
    resumes now, and one whose content changed under the same size and time is refused."""
    table, out = shutil.copy(session_tiny_table_csv, tmp_path / "movies.csv"), tmp_path / "p.parquet"
    (tmp_path / "posters").symlink_to(session_tiny_table_csv.parent / "posters")
    with pytest.raises(KeyboardInterrupt):
        predict_file(table, out, batch_size=16, progress=False, predictor=KilledAfter(tiny_run, die_at=2))

    def refusal(**options) -> str:
        with pytest.raises(ConfigError) as caught:
            predict_file(options.pop("table", table), out, options.pop("run", tiny_run), progress=False,
                         **{"batch_size": 16, **options})
        return str(caught.value).removeprefix(f"{out}.parts holds an interrupted run with ").removesuffix(
            "; pass --restart (or delete it) to start over")

    assert refusal(batch_size=32) == ("batch size 16, not 32; pass --restart (or delete it) to start over, or give "
                                      "--batch-size 16 to continue it")
    assert refusal(run=session_quick_run) == f"another model ({tiny_run.resolve()})"
    other = Path(shutil.copy(table, tmp_path / "other.csv"))
    assert refusal(table=other, batch_size=8) == f"another table ({table.resolve()}) and batch size 16, not 8"
    stat, text = table.stat(), table.read_text()
    # Another version of the same size and time (cp -p, rsync -t): its rows may differ from the parts'.
    table.write_text(text.replace("Movie 1,", "Movie 9,", 1))
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert refusal() == "this table before it changed (its content differs)"
    # A job noted before jobs kept the content goes by the table's size and time.
    job = json.loads((tmp_path / "p.parquet.parts" / "job.json").read_text())
    (tmp_path / "p.parquet.parts" / "job.json").write_text(json.dumps({k: v for k, v in job.items() if k != "sha256"}))
    table.write_text(text)
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert refusal() == "this table before it was written again or touched (its modification time differs)"
    table.write_text(text + "tt9999999,Late,2001,Drama,a story,\n")
    assert refusal() == "this table before it changed (its size differs)"
    (tmp_path / "p.parquet.parts" / "job.json").write_text(json.dumps(job))
    # The same content written again, or touched: resumed.
    table.write_text(text)
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    kept, resumed = len(list((tmp_path / "p.parquet.parts").glob("part-*.parquet"))), KilledAfter(tiny_run)
    assert predict_file(table, out, batch_size=16, progress=False, predictor=resumed) == out
    assert kept and resumed.calls == 4 - kept  # 60 movies in batches of 16: the kept parts are not predicted again


@pytest.mark.parametrize("stray", ["file", "link", "pipe"])
def test_a_stray_file_where_the_parts_go_is_one_line_before_the_model_loads(session_tiny_table_csv, tmp_path, stray,
                                                                            no_model):
    out = tmp_path / "p.parquet"
    parts = tmp_path / "p.parquet.parts"
    {"file": parts.touch, "link": lambda: parts.symlink_to(tmp_path / "gone"), "pipe": lambda: os.mkfifo(parts)}[stray]()
    kind = "link" if stray == "link" else "file"
    with pytest.raises(ConfigError, match=re.escape(f"--out {out}: {parts}, where predict-table keeps its parts, is "
                                                    f"a {kind}, not a folder; delete it, or give another --out")):
        predict_file(session_tiny_table_csv, out, progress=False)


def test_a_second_run_into_the_same_out_is_refused_while_the_first_runs(tiny_run, session_tiny_table_csv, expected,
                                                                         tmp_path):
    """Two runs into one --out (a cron job started again, a second terminal) wrote the same parts, and the first to
    finish removed the parts folder from under the other; --restart removed the running one's parts."""
    import fcntl

    out, parts = tmp_path / "p.parquet", tmp_path / "p.parquet.parts"
    with pytest.raises(KeyboardInterrupt):
        predict_file(session_tiny_table_csv, out, batch_size=16, progress=False,
                     predictor=KilledAfter(tiny_run, die_at=2))
    running = os.open(parts, os.O_RDONLY)  # as the first run holds it
    fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        for restart in (False, True):
            with pytest.raises(ConfigError) as caught:
                predict_file(session_tiny_table_csv, out, tiny_run, batch_size=16, progress=False, restart=restart)
            assert str(caught.value) == (f"--out {out}: another predict-table is writing it ({parts} is in use); wait "
                                         "for it to end, or give another --out")
            assert (parts / "part-000000.parquet").exists()
    finally:
        os.close(running)  # the first run ended (or died: the system drops its lock)
    again = KilledAfter(tiny_run)
    predict_file(session_tiny_table_csv, out, batch_size=16, progress=False, predictor=again)
    assert again.calls == 3 and not parts.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


def test_cli_writes_csv(tiny_run, session_tiny_table_csv, expected, tmp_path):
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(app, ["predict-table", str(session_tiny_table_csv), "--out", str(out),
                                      "--run", str(tiny_run), "--batch-size", "25", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()) == f"wrote 60 predictions to {out}"  # as a Parquet out's message says
    frame = pd.read_csv(out, keep_default_na=False)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False, atol=1e-6)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_movie_with_no_input_the_model_reads_gets_no_genres(session_quick_run, session_tiny_table_csv, tmp_path,
                                                              suffix):
    # A text-only model: every third movie of the tiny table has only a poster, two more only a placeholder plot.
    table = with_placeholder_plots(session_tiny_table_csv, tmp_path)
    unread = [f"tt{i:07d}" for i in range(60) if i % 3 == 0 or i in (1, 4)]
    warnings = []
    out = predict_file(table, tmp_path / f"p{suffix}", session_quick_run, batch_size=16, progress=False,
                       warn=warnings.append)
    assert warnings == [unread_line(22, session_quick_run, 'a description')]  # once for the table, not once a batch
    if suffix == ".csv":  # empty cells, not a zero or a 'nan'
        cells = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("imdb_id").loc[unread]
        assert set(cells.stack()) == {""}
    written = pd.read_csv(out).fillna({"predicted_genres": ""}) if suffix == ".csv" else pd.read_parquet(out)
    blank = written["imdb_id"].isin(unread).to_numpy()
    genres = written["predicted_genres"]
    assert (genres[blank] == "").all() and (genres[~blank] != "").all()
    probabilities = written.filter(like="p_")
    assert probabilities[blank].isna().all(axis=None) and probabilities[~blank].notna().all(axis=None)
    # The others' probabilities are those of a table without the unread rows: never given to the model, no effect.
    alone = pd.concat(Predictor(session_quick_run).predict_table(read_table(table, labelled=False).subset(~blank)))
    pd.testing.assert_frame_equal(written[~blank].reset_index(drop=True), alone.reset_index(drop=True),
                                  check_dtype=False, atol=1e-6)


def test_the_cli_says_once_how_many_movies_it_wrote_without_genres(session_quick_run, session_tiny_table_csv, tmp_path,
                                                                   monkeypatch, capsys):
    out = tmp_path / "p.csv"
    code, stdout, err = run_moviegenre(monkeypatch, capsys, "predict-table", session_tiny_table_csv, "--out", out,
                                       "--run", session_quick_run, "--batch-size", "16", "--no-progress")
    assert (code, stdout, err) == (0, f"wrote 60 predictions to {out}\n",
                                   f"warning: {unread_line(20, session_quick_run, 'a description')}\n")


def test_ray_engine_equals_local(tiny_run, session_tiny_table_csv, expected, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[data]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'ray[data]')")
    import pyarrow.parquet as pq

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(ConfigError, match="at most 1"):  # 2 actors would take both CPUs: a hang, not a run
            predict_file(session_tiny_table_csv, tmp_path / "p.parquet", tiny_run, engine="ray", workers=2)
        out = predict_file(session_tiny_table_csv, tmp_path / "p.parquet", tiny_run, batch_size=16,
                           engine="ray", progress=False)  # workers: one fewer than the CPUs, as 2 would hang
        pd.testing.assert_frame_equal(pd.read_parquet(out), expected)  # the local engine's column types too
        local = predict_file(session_tiny_table_csv, tmp_path / "local.parquet", tiny_run, progress=False)
        assert pq.read_schema(out).metadata[b"moviegenre"] == pq.read_schema(local).metadata[b"moviegenre"]

        # The same CSV, byte for byte (no float32 noise such as 0.12280000001192093 for 0.1228), a movie with no
        # input the model reads without genres, and said once, as the local engine says it.
        table, said = with_placeholder_plots(session_tiny_table_csv, tmp_path), {}
        for engine in ("local", "ray"):
            said[engine] = []
            predict_file(table, tmp_path / f"{engine}.csv", tiny_run, batch_size=16, engine=engine, workers=1,
                         progress=False, warn=said[engine].append)
        assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
        assert said["ray"] == said["local"] == [unread_line(2, tiny_run)]
        assert (tmp_path / "ray.csv").read_text().splitlines()[2].startswith("tt0000001,,,")

        # Killed while writing its third part, then started again: only the rows not yet written are predicted.
        out = tmp_path / "resumed.parquet"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(batch, "atomic_write_file", WritesThenDies(die_at=3))
            with pytest.raises(KeyboardInterrupt):
                predict_file(session_tiny_table_csv, out, tiny_run, batch_size=16, engine="ray", workers=1,
                             progress=False)
        done = sorted((tmp_path / "resumed.parquet.parts").glob("part-*"))
        assert [p.name for p in done] == ["part-000000.parquet", "part-000001.parquet"] and not out.exists()
        rows_done = len(pd.read_parquet(done[0]))
        done[1].write_bytes(b"damaged since")  # its movies are predicted again, with a warning, not a traceback
        warnings = []
        with pytest.MonkeyPatch.context() as patch:
            again = WritesThenDies()
            patch.setattr(batch, "atomic_write_file", again)
            predict_file(session_tiny_table_csv, out, tiny_run, batch_size=16, engine="ray", workers=1, progress=False,
                         warn=warnings.append)
        assert again.rows == len(expected) - rows_done  # part 0 was not predicted again
        assert len(warnings) == 1 and warnings[0].startswith(f"{done[1]}: not a readable Parquet file (")

        # A damaged row and an id given twice in two batches (a worker sees one batch) are refused by the driver,
        # every row checked before the cluster predicts, as the local engine checks them.
        lines = table_lines(session_tiny_table_csv)
        lines[31] = lines[31].replace(",Movie 30,", f",{'Movie 30 ' * 60},")
        damaged = write_lines(tmp_path / "damaged.csv", lines)
        with pytest.raises(MovieGenreError, match="^" + re.escape(f"{damaged}: row 31, field 'title': 540 characters, "
                                                                    "over the 500 limit")):
            predict_file(damaged, tmp_path / "d.parquet", tiny_run, batch_size=16, engine="ray", workers=1,
                         progress=False)
        lines = table_lines(session_tiny_table_csv)
        twice = write_lines(tmp_path / "twice.csv", [*lines, lines[1]])
        with pytest.raises(MovieGenreError, match="duplicate id 'tt0000000' \\(first seen in row 1\\)"):
            predict_file(twice, tmp_path / "t.parquet", tiny_run, batch_size=16, engine="ray", workers=1,
                         progress=False)
        assert not (tmp_path / "t.parquet.parts").exists()
        # A table changed after the driver checked it: a worker names the row by its id (its batch does not know
        # where it starts in the file).
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(batch, "_checked_rows", lambda path, rows, warn: None)
            with pytest.raises(MovieGenreError) as caught:
                predict_file(damaged, tmp_path / "d.parquet", tiny_run, batch_size=16, engine="ray", workers=1,
                             progress=False)
        assert str(caught.value) == (f"{damaged}: the row of imdb_id 'tt0000030': field 'title': 540 characters, "
                                     "over the 500 limit (fix or drop the row (a scraping accident?))")
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected, check_dtype=False)


class WritesThenDies:
    """Stands in for batch.atomic_write_file (every part and the output are written through it): counts the predicted rows it writes, 'dies' at its n-th part."""

    def __init__(self, die_at: int | None = None) -> None:
        self.die_at, self.calls, self.rows = die_at, 0, 0
        self.write = batch.atomic_write_file

    def __call__(self, path: Path, write) -> None:
        self.calls += 1
        if self.calls == self.die_at:
            raise KeyboardInterrupt
        self.write(path, write)
        if path.name.startswith("part-"):
            self.rows += len(pd.read_parquet(path))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_of_a_header_alone_gives_the_columns_and_no_rows(tiny_run, tmp_path, suffix, monkeypatch, capsys):
    (tmp_path / "empty.csv").write_text("imdb_id,genres,description\n")
    out = tmp_path / f"out{suffix}"
    assert run_moviegenre(monkeypatch, capsys, "predict-table", tmp_path / "empty.csv", "--out", out, "--run",
                          tiny_run, "--no-progress") == (0, f"wrote 0 predictions to {out}\n", "")
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(written) == 0
    assert list(written.columns) == ["imdb_id", "predicted_genres", *(f"p_{g}" for g in Predictor(tiny_run).genres)]


def test_a_poster_that_is_not_an_image_is_predicted_as_no_poster_with_a_warning(tiny_run, session_tiny_table_csv,
                                                                                 tmp_path):
    rows = session_tiny_table_csv.read_text().splitlines()
    first = rows[1].split(",")
    assert first[-1]  # the first movie has a poster
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")

    def table_whose_first_poster_is(name: str, poster: str) -> Path:
        path = tmp_path / f"{name}.csv"
        others = (row.replace(",posters/", f",{session_tiny_table_csv.parent}/posters/") for row in rows[2:])
        path.write_text("\n".join([rows[0], ",".join(first[:-1] + [poster]), *others]))
        return path

    warnings = []
    out = predict_file(table_whose_first_poster_is("broken", str(broken)), tmp_path / "broken.parquet", tiny_run,
                       progress=False, warn=warnings.append)
    # The first movie has no description: without its poster it has nothing to predict from, and gets no genres.
    assert warnings == [(f"{broken}: not an image (give a JPEG, PNG, WebP or GIF poster); movie {first[0]} "
                         "predicted without its poster"), unread_line(1, tiny_run)]
    blank = predict_file(table_whose_first_poster_is("blank", ""), tmp_path / "blank.parquet", tiny_run,
                         progress=False)
    many = tmp_path / "many.csv"  # eight broken posters over two batches: five told, then a count
    many.write_text("\n".join([rows[0], *(f"tt{i:07d},M{i},2001,Drama,a story,{broken}" for i in range(8)), ""]))
    warnings.clear()
    predict_file(many, tmp_path / "many.parquet", tiny_run, progress=False, batch_size=4, warn=warnings.append)
    assert [line.split(";")[1] for line in warnings[:5]] == [f" movie tt{i:07d} predicted without its poster"
                                                             for i in range(5)]
    assert warnings[5:] == [(f"3 more posters not usable as an image, each predicted without it ('moviegenre data "
                             f"inspect {many} --images' lists every one)")]
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, pd.read_parquet(blank))
    assert written.loc[0, "predicted_genres"] == "" and written.iloc[0, 2:].isna().all()


def test_a_streamed_parquet_row_that_is_not_text_is_named_by_its_row_in_the_file(tiny_run, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "movies.parquet"
    descriptions = [f"story {i}".encode() for i in range(40)]
    descriptions[33] = b"caf\xe9"
    pq.write_table(pa.table({"imdb_id": [f"tt{i:07d}" for i in range(40)], "genres": [["Drama"]] * 40,
                             "description": pa.array(descriptions, pa.binary())}), path)
    with pytest.raises(DataError) as caught:
        predict_file(path, tmp_path / "p.csv", tiny_run, batch_size=16, progress=False)
    assert str(caught.value) == (f"{path}: row 34, field 'description': not UTF-8 text (byte 0xe9) (re-save the "
                                 "table with UTF-8 text)")


def test_an_out_under_a_file_is_one_line_before_the_model_loads(session_tiny_table_csv, tmp_path, monkeypatch,
                                                                 capsys, no_model):
    (tmp_path / "afile").touch()
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", session_tiny_table_csv, "--out",
                                  tmp_path / "afile" / "sub" / "p.csv", "--no-progress")
    assert code == 2
    assert err == (f"error: --out {tmp_path}/afile/sub/p.csv: {tmp_path}/afile is a file, not a folder; give another "
                   "path\n")


@pytest.mark.parametrize(("option", "value", "bounds"), [("--batch-size", "0", "[1, 1048576]"),
                                                         ("--batch-size", "99999999999", "[1, 1048576]"),
                                                         ("--workers", "0", "[1, 1024]"),
                                                         ("--workers", "-1", "[1, 1024]")])
def test_batch_size_and_workers_out_of_range_are_one_line_before_any_work(session_tiny_table_csv, tmp_path, monkeypatch,
                                                                          capsys, no_model, option, value, bounds):
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict-table", session_tiny_table_csv, "--out",
                                  tmp_path / "p.csv", option, value, "--no-progress")
    assert (code, err) == (2, f"error: {option} {value}: give a whole number in {bounds}\n")
    assert not (tmp_path / "p.csv.parts").exists()


def test_a_damaged_part_is_predicted_again_with_a_warning(tiny_run, session_tiny_table_csv, expected, tmp_path):
    out, parts = tmp_path / "p.parquet", tmp_path / "p.parquet.parts"
    with pytest.raises(KeyboardInterrupt):
        predict_file(session_tiny_table_csv, out, batch_size=16, progress=False,
                     predictor=KilledAfter(tiny_run, die_at=4))
    (parts / "part-000001.parquet").write_text("garbage")  # a damaged disk
    shutil.copy(parts / "part-000000.parquet", parts / "part-000002.parquet")  # readable, but other movies'

    warnings, again = [], KilledAfter(tiny_run)
    predict_file(session_tiny_table_csv, out, batch_size=16, progress=False, predictor=again, warn=warnings.append)
    assert again.calls == 3  # parts 1 and 2 again, and part 3, never written
    assert [line.split(":")[0] for line in warnings] == [str(parts / "part-000001.parquet"),
                                                         str(parts / "part-000002.parquet")]
    assert warnings[0].endswith("; predicting its 16 movies again")
    assert warnings[1] == (f"{parts}/part-000002.parquet: not the predictions of its movies; predicting its 16 movies "
                           "again")
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


@pytest.mark.parametrize(("row", "edit", "error"), [
    (60, lambda line: line[line.index(","):],
     "row 60, field 'imdb_id': empty id (every movie needs a unique id)"),
    (3, lambda line: line.replace(",Movie 2,", f",{'Movie 2 ' * 70},"),
     "row 3, field 'title': 560 characters, over the 500 limit (fix or drop the row (a scraping accident?))"),
    ("every poster", lambda line: line.replace("/posters/", "/elsewhere/"),
     ("row 1, field 'poster': poster file '{folder}/elsewhere/tt0000000.png' does not exist (fix the path or leave the "
     "field empty; not one of the table's 40 posters can be used)")),
], ids=["id-of-the-last-row", "title", "every-poster-missing"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_row_is_checked_before_the_model_loads_or_a_part_is_written(session_tiny_table_csv, tmp_path, no_model,
                                                                           row, edit, error, suffix):
    lines = table_lines(session_tiny_table_csv)
    for number in range(1, len(lines)) if row == "every poster" else [row]:
        lines[number] = edit(lines[number])
    table = write_table(tmp_path / "movies.csv", lines, suffix)
    with pytest.raises(DataError) as caught:
        predict_file(table, tmp_path / "p.csv", batch_size=16, progress=False)
    assert str(caught.value) == f"{table}: " + error.format(folder=session_tiny_table_csv.parent)
    assert not (tmp_path / "p.csv.parts").exists()  # nothing that would hold up the run of the table fixed


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_year_or_a_poster_file_a_prediction_can_do_without_is_read_around_with_a_warning(
        tiny_run, session_tiny_table_csv, tmp_path, suffix):
    """One missing poster file or a year that does not parse among a catalogue's thousands of rows refused the whole
    catalogue; neither is needed to predict the movie (a poster that does not decode was already left out)."""
    lines = table_lines(session_tiny_table_csv)
    assert lines[3].endswith("tt0000002.png") and ",2009," in lines[60]
    lines[60] = lines[60].replace(",2009,", ",abc,")
    damaged = lines.copy()
    damaged[3] = lines[3].replace("/posters/", "/moved/")
    table = write_table(tmp_path / "movies.csv", damaged, suffix)
    warnings = []
    out = predict_file(table, tmp_path / "p.parquet", tiny_run, batch_size=16, progress=False, warn=warnings.append)
    assert warnings == [
        (f"{table}: row 3, field 'poster': poster file '{session_tiny_table_csv.parent}/moved/tt0000002.png' does not "
        "exist (fix the path or leave the field empty); predicted without its poster"),
        (f"{table}: row 60, field 'year': year 'abc' is not a number (use a 4-digit year or leave it empty); read as "
        "unknown")]
    lines[3] = lines[3].rsplit(",", 1)[0] + ","  # the movie as if it had no poster
    without = predict_file(write_lines(tmp_path / "without.csv", lines), tmp_path / "w.parquet", tiny_run,
                           batch_size=16, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(without))


def test_many_problems_read_around_are_told_as_a_few_and_a_count(tiny_run, session_tiny_table_csv, tmp_path):
    lines = table_lines(session_tiny_table_csv)
    for number in range(1, 31):
        lines[number] = lines[number].replace("/posters/", "/moved/")
    table = write_lines(tmp_path / "movies.csv", lines)
    warnings = []
    predict_file(table, tmp_path / "p.parquet", tiny_run, batch_size=16, progress=False, warn=warnings.append)
    assert [line.split(",")[0] for line in warnings[:5]] == [f"{table}: row {row}" for row in (1, 3, 4, 6, 7)]
    assert warnings[5] == f"15 more problems read around as these ('moviegenre data inspect {table}' lists every one)"


def test_a_job_that_predicted_nothing_does_not_hold_up_the_next(tiny_run, session_tiny_table_csv, expected, tmp_path):
    out = tmp_path / "p.parquet"
    with pytest.raises(KeyboardInterrupt):  # fails on its first batch, after its job.json is written
        predict_file(session_tiny_table_csv, out, batch_size=16, progress=False,
                     predictor=KilledAfter(tiny_run, die_at=1))
    assert (tmp_path / "p.parquet.parts" / "job.json").exists()
    predict_file(session_tiny_table_csv, out, tiny_run, batch_size=32, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


@pytest.mark.parametrize(("batch_size", "first", "again"), [(1, 5, 40), (16, 5, 40), (4096, 5, 40), (16, 20, 25)])
def test_a_duplicate_id_is_refused_whatever_the_batch_size(tiny_run, session_tiny_table_csv, tmp_path, batch_size,
                                                           first, again):
    lines = table_lines(session_tiny_table_csv)
    movie = f"tt{first - 1:07d}"
    lines[again] = movie + lines[again][len(movie):]
    table = write_lines(tmp_path / "movies.csv", lines)
    with pytest.raises(DataError) as caught:
        predict_file(table, tmp_path / "p.csv", tiny_run, batch_size=batch_size, progress=False)
    # Both rows counted in the file, not in a batch; found before the first batch, as every row's values are.
    assert str(caught.value) == (f"{table}: row {again}, field 'imdb_id': duplicate id '{movie}' (first seen in row "
                                 f"{first}) (remove or merge the duplicate row)")
    assert not (tmp_path / "p.csv.parts").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_a_column_the_model_reads_is_refused_before_the_model_loads(session_tiny_table_csv, tmp_path,
                                                                                      no_model, suffix):
    """A catalogue's own names (plot, poster_path) were read as no input: every row written without genres, exit 0."""
    lines = table_lines(session_tiny_table_csv)
    lines[0] = lines[0].replace("description", "plot").replace("poster", "poster_path")
    table = write_table(tmp_path / "movies.csv", lines, suffix)
    with pytest.raises(DataError) as caught:
        predict_file(table, tmp_path / "p.csv", progress=False)
    assert str(caught.value) == (f"{table}: no poster or description column, what a model reads (found: imdb_id, "
                                 "title, year, genres, plot, poster_path) (name the column that holds them poster or "
                                 "description)")
