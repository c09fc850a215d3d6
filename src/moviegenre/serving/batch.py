"""Batch prediction for whole catalogues: streamed, resumable, locally or on a Ray cluster.

    >>> from moviegenre.serving.batch import predict_file
    >>> predict_file("catalogue.csv", "predictions.parquet")              # local, resumable
    >>> predict_file("catalogue.csv", "predictions.parquet", engine="ray")  # Ray Data map_batches

Local mode checks every row of the table first, then reads it ``batch_size`` rows at a time and writes each batch's
predictions as one part file (``<out>.parts/part-000123.parquet``, atomically), so memory stays bounded by one batch
and a killed run, started again, skips the batches already written (a part damaged since is predicted again). Ray
mode writes the batches it gets back, in table order, as parts too; started again, it leaves out the movies already
in them. When every row is predicted the parts are joined into ``out``. The rows and columns are those of
:meth:`Predictor.predict_table`: a movie with no input the model reads gets no genres and empty probabilities.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from moviegenre.data.readers import (
    arrow_frame,
    check_table_path,
    csv_header,
    is_streamable,
    iter_table_chunks,
    path_argument,
    read_json,
    read_table,
    shared_chunk,
    streamed_columns,
)
from moviegenre.data.table import (
    MovieTable,
    atomic_write_file,
    atomic_write_text,
    check_not_input,
    image_error,
    plural,
    read_around,
)
from moviegenre.errors import ConfigError, DataError, ImageError, MovieGenreError, first_line
from moviegenre.models.base import MODEL_WEIGHTS, model_meta, run_model_dir
from moviegenre.params import BATCH, Interval
from moviegenre.serving.predictor import Predictor

ENGINES = ("local", "ray")
WORKERS = Interval(1, 1024, whole=True)  # Ray actors, a process each: a typo must not start thousands
WARNED_PROBLEMS = 5  # rows read around, or broken posters, told one by one; the rest as a count
SETTINGS = ("batch_size", "engine")  # a job's settings that change how its rows are predicted, not which


def predict_file(table: str | Path, out: str | Path, run_dir: str | Path | None = None, *,
                 batch_size: int = 4096, engine: str = "local", progress: bool = True, restart: bool = False,
                 workers: int | None = None, predictor: Predictor | None = None,
                 warn: Callable[[str], None] | None = None) -> Path:
    """Predict every row of ``table`` into ``out`` (.parquet or .csv) and return ``out``.

    ``restart`` drops the parts of an earlier interrupted run instead of continuing it. ``workers`` is the number of
    Ray actors (``engine="ray"``; None: one fewer than the cluster's CPUs). ``predictor`` reuses an already loaded
    model (local mode). ``warn`` is told of the rows read around (``iter_tables``), each poster that is not a usable
    image, predicted as no poster (local mode; Ray's actors leave such posters out as well, without a word to the
    driver), and, once, how many movies have no input the model reads (both engines).
    """
    table, out = path_argument(table, "table"), path_argument(out, "out")
    _check_options(out, engine, batch_size, workers)
    check_table_path(table)
    check_not_input([table], [out])
    _check_input_columns(table)
    if engine == "ray":
        return _predict_ray(table, out, run_dir, batch_size=batch_size, workers=workers, progress=progress,
                            restart=restart, warn=warn)
    # Every row is checked before the model loads and before the parts folder is made: a bad row found hours into
    # the predictions would waste them, and a job.json left by a run that never started would refuse the next.
    chunks, rows = iter_tables(table, batch_size, warn)
    predictor = predictor or Predictor(run_dir)
    broken = FirstFew(warn)  # posters found not to be usable images, batch by batch
    with _parts_folder(table, out, predictor.run_dir, batch_size, restart, engine) as parts, \
            tqdm(desc=f"predict {table.name}", unit="movie", disable=not progress, total=rows) as bar:
        written = 0
        for index, chunk in enumerate(chunks):
            part = parts / f"part-{index:06d}.parquet"
            if not _holds(part, chunk, predictor.genres, warn):  # resume: a part already written is kept
                atomic_write_file(part, lambda tmp, c=chunk: predict_frame(predictor, c, broken).to_parquet(tmp,
                                                                                                      index=False))
            written += 1
            bar.update(len(chunk))
        broken.count_rest("more poster", f"not usable as an image, each predicted without it ('moviegenre data inspect "
                          f"{table} --images' lists every one)")
        unread = _join([parts / f"part-{index:06d}.parquet" for index in range(written)], out, predictor.genres,
                       provenance(predictor.run_dir, table))
        shutil.rmtree(parts)
    _warn_unread(unread, predictor.run_dir, predictor.model.inputs, warn)
    return out


def _check_input_columns(table: Path) -> None:
    """A table with neither a poster nor a description column (a catalogue's own names: poster_path, plot) would be
    predicted row by row into nothing (a title alone is no input): refused before a row is read or the model loads."""
    columns = streamed_columns(table)
    if columns is not None and not {"poster", "description"} & set(columns):
        raise DataError(table, f"no poster or description column, what a model reads (found: {', '.join(columns)})",
                        hint="name the column that holds them poster or description")


def _check_options(out: Path, engine: str, batch_size: int, workers: int | None) -> None:
    """The options, each refused in one line before any work."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ConfigError(f"--out {out}: give a .parquet or .csv file name")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder (give a .parquet or .csv file name)")
    above = next(folder for folder in out.parents if folder.exists())
    if not above.is_dir():  # the parts folder, then out, could not be made there: found now, not after the model
        raise ConfigError(f"--out {out}: {above} is a file, not a folder; give another path")
    parts = out.with_name(out.name + ".parts")
    if parts.is_symlink() or (parts.exists() and not parts.is_dir()):  # mkdir, then flock, would trace back on it
        raise ConfigError(f"--out {out}: {parts}, where predict-table keeps its parts, is a "
                          f"{'link' if parts.is_symlink() else 'file'}, not a folder; delete it, or give another --out")
    if batch_size not in BATCH:
        raise ConfigError(f"--batch-size {batch_size}: give {BATCH}")
    if workers is not None and workers not in WORKERS:
        raise ConfigError(f"--workers {workers}: give {WORKERS}")


class FirstFew:
    """A ``warn`` that tells the first ``WARNED_PROBLEMS`` messages, then, at ``count_rest``, how many more there were:
    a catalogue with thousands of broken posters must not flood the terminal."""

    def __init__(self, warn: Callable[[str], None] | None) -> None:
        self.warn, self.told = warn, 0

    def __call__(self, message: str) -> None:
        self.told += 1
        if self.warn and self.told <= WARNED_PROBLEMS:
            self.warn(message)

    def count_rest(self, noun: str, what: str) -> None:
        if self.warn and self.told > WARNED_PROBLEMS:
            self.warn(f"{plural(self.told - WARNED_PROBLEMS, noun)} {what}")


def predict_frame(predictor: Predictor, table: MovieTable, warn: Callable[[str], None] | None = None
                  ) -> pd.DataFrame:
    """One batch's predictions, exactly as :meth:`Predictor.predict_table` gives them (a table of no rows, a header
    alone: the columns and no rows). A poster that is not a usable image is read as no poster, and ``warn`` told
    which: one broken file among a catalogue's posters must not stop the catalogue."""
    try:
        frames = list(predictor.predict_table(table, batch_size=max(len(table), 1)))
    except ImageError:  # decoded only now, on this rare path: a batch's posters are read once otherwise
        broken = {row: error for row, poster in enumerate(table.posters) if poster and (error := image_error(poster))}
        if not broken:  # not a poster of this batch: nothing to leave out
            raise
        for row, error in broken.items():
            if warn:
                warn(f"{error}; movie {table.ids[row]} predicted without its poster")
        posters = ["" if row in broken else poster for row, poster in enumerate(table.posters)]
        frames = list(predictor.predict_table(MovieTable(table.frame.assign(poster=posters), table.source),
                                              batch_size=max(len(table), 1)))
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype="float32" if column.startswith("p_") else object)
                             for column in _columns(predictor.genres)})
    return pd.concat(frames, ignore_index=True)


def iter_tables(path: Path, rows: int, warn: Callable[[str], None] | None = None
                ) -> tuple[Iterator[MovieTable], int]:
    """The table in chunks of ``rows``, and its number of rows, once every row is checked as ``read_table`` checks
    a table (its values, its posters' files, an id given twice anywhere in it): a bad row fails here, before any
    model loads. A problem a prediction can do without (``table.read_around``: a year that does not parse, a missing
    poster file) is read around, and ``warn`` told. The shared CSV and Parquet formats are streamed from disk, twice
    (the check keeps only the ids); the other formats (text-only CSVs, MM-IMDb folders) are read whole, then
    chunked."""
    if is_streamable(path):
        return iter_table_chunks(path, rows), _checked_rows(path, rows, warn)
    whole = read_table(path, labelled=False, strict=False)  # which also words what is wrong with any other path
    whole, around = read_around(whole, whole.problems)
    _check_around(path, around, int(whole.has_poster.sum()), warn)
    return ((whole.subset(np.arange(start, min(start + rows, len(whole)))) for start in range(0, len(whole), rows)),
            len(whole))


def _checked_rows(path: Path, rows: int, warn: Callable[[str], None] | None = None) -> int:
    """The number of rows of a shared CSV or Parquet table, once every row is checked (an id given twice included)
    and ``warn`` told of the problems read around."""
    around: list[DataError] = []
    counted = posters = 0
    for chunk in iter_table_chunks(path, rows, first_rows={}, around=around):
        counted, posters = counted + len(chunk), posters + int(chunk.has_poster.sum())
    _check_around(path, around, posters, warn)
    return counted


def _check_around(table: Path, around: list[DataError], posters: int, warn: Callable[[str], None] | None) -> None:
    """Refuse a table none of whose posters can be used (a wrong folder, URLs: not a few bad rows to read around);
    tell ``warn`` of the ``around`` problems, the first few and a count: a catalogue with thousands of bad rows must
    not flood the terminal."""
    unusable = [problem for problem in around if problem.field == "poster"]
    if unusable and not posters:
        first = unusable[0]
        raise DataError(first.source, first.problem, row=first.row, field=first.field,
                        hint=f"{first.hint}; not one of the table's {plural(len(unusable), 'poster')} can be used")
    told = FirstFew(warn)
    for problem in around:
        told(f"{problem}; {'predicted without its poster' if problem.field == 'poster' else 'read as unknown'}")
    told.count_rest("more problem", f"read around as these ('moviegenre data inspect {table}' lists every one)")


def _worker_error(error: Exception) -> MovieGenreError:
    """A Ray worker's failure in one line. Ray hands the driver a worker's exception only as the text of its
    traceback: the project's own error (a damaged row, an unreadable poster) is its line there, else Ray's first."""
    ours = re.findall(r"^moviegenre\.errors\.\w+: (.+)$", str(error), flags=re.MULTILINE)
    return MovieGenreError(ours[-1] if ours else f"a Ray worker failed: {first_line(error)} (parts written so far "
                           "are kept; run the same command again to resume)")


@contextmanager
def _parts_folder(table: Path, out: Path, run_dir: Path, batch_size: int, restart: bool, engine: str
                  ) -> Iterator[Path]:
    """``<out>.parts/``, held by this run alone and checked to belong to this very job: parts of another table, model,
    batch size or engine would silently mix predictions, and a second run into the same ``out`` would write the same
    parts while the first, done, removed them from under it."""
    parts = out.with_name(out.name + ".parts")
    stat = table.stat()
    with table.open("rb") as file:  # its content, not its time: a table copied or synced again unchanged resumes
        content = hashlib.file_digest(file, "sha256").hexdigest()
    job = {"table": str(table.resolve()), "sha256": content, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "model": str(Path(run_dir).resolve()), "batch_size": batch_size, "engine": engine}
    marker = parts / "job.json"
    with _held(parts, out):
        if restart:
            for child in parts.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        # Only parts are worth keeping: a job that predicted nothing (it failed on its first batch) holds up no other.
        if any(parts.glob("part-*.parquet")):
            earlier = read_json(marker, hint=f"pass --restart, or delete {parts}, to predict the table from the start")
            changed = _changed(earlier, job) if isinstance(earlier, dict) else ["a job.json of another shape"]
            if changed:
                same = [f"--{key.replace('_', '-')} {earlier[key]}" for key in SETTINGS
                        if earlier.get(key) != job[key]]
                go_on = f", or give {' '.join(same)} to continue it" if len(same) == len(changed) else ""
                raise ConfigError(f"{parts} holds an interrupted run with {' and '.join(changed)}; pass --restart (or "
                                  f"delete it) to start over{go_on}")
        atomic_write_text(marker, json.dumps(job))  # killed while writing it, a run could not be resumed
        yield parts


@contextmanager
def _held(folder: Path, out: Path) -> Iterator[None]:
    """``folder``, made if need be, locked for this process (``flock``: the system drops it when the process dies, so
    a killed run leaves no stale lock); another run holding it is refused in one line."""
    import fcntl

    while True:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise ConfigError(f"--out {out}: another predict-table is writing it ({folder} is in use); wait for it to "
                              "end, or give another --out") from None
        with suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(handle), os.stat(folder)):
                break
        os.close(handle)  # the run that held it finished and removed it in between: make it again
    try:
        yield
    finally:
        os.close(handle)


def _changed(earlier: dict, job: dict) -> list[str]:
    """What differs between an interrupted job and this one, in words; this table changed since told apart from
    another table: the person knows whether the parts are of other rows."""
    changed = [f"another {key} ({earlier.get(key)})" for key in ("table", "model") if earlier.get(key) != job[key]]
    changed += [f"{key.replace('_', ' ')} {earlier.get(key)}, not {job[key]}" for key in SETTINGS
                if earlier.get(key) != job[key]]
    if changed:
        return changed
    if "sha256" in earlier:
        return [] if earlier["sha256"] == job["sha256"] else ["this table before it changed (its content differs)"]
    # A job noted before jobs kept the table's content: its size and time are all there is to go by.
    if earlier.get("size") != job["size"]:
        return ["this table before it changed (its size differs)"]
    if earlier.get("mtime_ns") != job["mtime_ns"]:
        return ["this table before it was written again or touched (its modification time differs)"]
    return []


def _holds(part: Path, chunk: MovieTable, genres: list[str], warn: Callable[[str], None] | None) -> bool:
    """Whether ``part``, left by an interrupted run, holds ``chunk``'s predictions. A part is only ever there
    complete (written, then renamed), but a disk or a person can damage it since: one that does not read back as
    this chunk's predictions is predicted again, and ``warn`` told, so that resuming heals the parts folder."""
    if not part.exists():
        return False
    try:
        if _part_ids(part, genres) == chunk.ids:
            return True
        problem = "not the predictions of its movies"
    except DataError as error:
        problem = error.problem
    if warn:
        warn(f"{part}: {problem}; predicting its {plural(len(chunk), 'movie')} again")
    return False


def _part_ids(part: Path, genres: list[str]) -> list[str]:
    """The movies whose predictions a part holds; a DataError where it no longer reads back, whole, as predictions
    of ``genres`` (the join reads every column of it)."""
    try:
        frame = pd.read_parquet(part)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DataError(part, f"not a readable Parquet file ({first_line(error)})") from None
    if list(frame.columns) != _columns(genres):
        raise DataError(part, "not the predictions of this model's genres")
    return frame["imdb_id"].tolist()


def _ray_parts_done(parts: Path, genres: list[str], warn: Callable[[str], None] | None) -> tuple[set[str], int]:
    """The movies a killed Ray run's parts hold, and the last part's number (-1 for none). Ray's parts follow the
    results, not fixed batches, so a part that no longer reads back is removed (and ``warn`` told): its movies are
    not among those done, and are predicted again."""
    done, last = set(), -1
    for part in sorted(parts.glob("part-*.parquet")):
        try:
            done.update(_part_ids(part, genres))
        except DataError as error:
            if warn:
                warn(f"{part}: {error.problem}; predicting its movies again")
            part.unlink()
            continue
        last = int(part.stem.removeprefix("part-"))
    return done, last


def provenance(model_dir: Path, table: Path) -> dict:
    """What made a predictions file, kept in a Parquet file's metadata (key ``moviegenre``): the model, its files'
    fingerprint (the ``model_version`` of ``predict --json`` and the service), and the thresholds that made
    ``predicted_genres`` of the probabilities. Read from the model's files, not a loaded model: Ray's driver loads
    none."""
    from safetensors import safe_open

    about = Predictor(model_dir)  # its model.json alone
    with safe_open(str(about.run_dir / MODEL_WEIGHTS), framework="numpy") as weights:
        thresholds = weights.get_tensor("thresholds_")
    return {"model": about.model_name, "model_version": about.version, "run": str(about.run_dir.resolve()),
            "table": str(table.resolve()),
            "thresholds": {genre: round(float(threshold), 4) for genre, threshold in zip(about.genres, thresholds)}}


def _join(parts: list[Path], out: Path, genres: list[str], about: dict) -> int:
    """Concatenate the parts into ``out`` one part at a time (bounded memory), then rename it into place; return how
    many movies got no probabilities (no input the model reads), counted on the way: a resumed run's parts too.
    A Parquet ``out`` carries ``about`` (``provenance``) in its metadata; a CSV has no place for it."""
    unread = 0

    def write(tmp: Path) -> None:
        nonlocal unread
        if out.suffix.lower() == ".csv":
            with tmp.open("w", encoding="utf-8", newline="") as handle:
                # Quoted as pandas quotes the rows: a genre may hold a comma or a quote.
                pd.DataFrame(columns=_columns(genres)).to_csv(handle, index=False)
                for part in parts:
                    frame = pd.read_parquet(part)
                    unread += int(frame.iloc[:, 2].isna().sum())
                    frame.to_csv(handle, index=False, header=False)
            return
        schema = pq.read_schema(parts[0]) if parts else pa.Schema.from_pandas(
            pd.DataFrame(columns=_columns(genres)), preserve_index=False)
        schema = schema.with_metadata({**(schema.metadata or {}), b"moviegenre": json.dumps(about).encode()})
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                table = pq.read_table(part, schema=schema)
                unread += int(table.column(2).to_pandas().isna().sum())
                writer.write_table(table)

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_file(out, write)
    return unread


def _warn_unread(unread: int, model_dir: Path, inputs: tuple[str, ...], warn: Callable[[str], None] | None) -> None:
    """Tell ``warn``, once for the whole table, how many movies were written without genres for want of the
    ``inputs`` the model reads."""
    if unread and warn:
        model = "the default model" if model_dir.resolve() == run_model_dir(None).resolve() else f"{model_dir}'s model"
        placeholder = "; a placeholder such as 'Add a Plot »' is no description" if "description" in inputs else ""
        warn(f"{plural(unread, 'movie')} {'has' if unread == 1 else 'have'} no input {model} reads (it reads "
             f"{' or '.join(f'a {name}' for name in inputs)}{placeholder}): written without genres")


def _inputs_of(model_dir: Path) -> tuple[str, ...]:
    """The inputs the saved model reads, from its model.json alone (the Ray driver never loads the weights)."""
    from moviegenre.models.registry import create_model

    meta = model_meta(model_dir)
    return create_model(meta["name"], **meta["params"]).inputs


def written_rows(out: Path) -> int:
    """The number of predictions in a finished ``out``: the Parquet footer's count, or the CSV's rows, streamed."""
    if out.suffix.lower() == ".parquet":
        return pq.ParquetFile(out).metadata.num_rows
    import pyarrow.csv as pacsv

    # The header read as a row (one to take off), so that a header alone is 0 rows, not an empty file; columns by
    # position, as text: a genre's name (a column's) may be anything, and a quoted field may span lines.
    first = pacsv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()})
    reader = pacsv.open_csv(out, read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True), convert_options=first)
    return sum(batch.num_rows for batch in reader) - 1


def _columns(genres: list[str]) -> list[str]:
    return ["imdb_id", "predicted_genres", *(f"p_{g}" for g in genres)]


# -- Ray Data ---------------------------------------------------------------------------------------------


class _RayPredict:
    """A Ray actor: loads the model once, then predicts the batches Ray hands it."""

    def __init__(self, run_dir: str | None, source: str) -> None:
        self.predictor, self.source = Predictor(run_dir), Path(source)

    def __call__(self, batch: pa.Table) -> pd.DataFrame:
        try:
            table = shared_chunk(self.source, arrow_frame(self.source, batch))
        except DataError as error:
            if error.row is None:
                raise
            # A table changed since the driver checked it. A Ray batch does not know where in the file it starts:
            # the row is named by its id.
            movie = batch["imdb_id"][error.row - 1].as_py()
            raise DataError(f"{self.source}: the row of imdb_id '{movie}'", error.problem, field=error.field,
                            hint=error.hint) from None
        return predict_frame(self.predictor, table)


def _predict_ray(table: Path, out: Path, run_dir: str | Path | None, *, batch_size: int, workers: int | None,
                 progress: bool, restart: bool, warn: Callable[[str], None] | None = None) -> Path:
    """The same prediction through Ray Data: the cluster reads the table and ``map_batches`` predicts on
    ``workers`` actors; the driver streams the results, in input order, into ``out``.

    Joins the running cluster (``ray.init()``: ``RAY_ADDRESS`` or the one this process started), or starts
    a local one. Poster paths must be readable by every node (a shared filesystem).
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError("--engine ray needs Ray Data: pip install 'ray[data]'") from None
    import pyarrow.csv as pacsv

    if not is_streamable(table):
        raise ConfigError(f"{table}: --engine ray reads the shared CSV or Parquet format (with an imdb_id column)")
    # Every row checked here, as the local engine checks them, before the cluster starts: a worker sees one batch,
    # so an id given twice in two batches, or a bad row in the last one, would be found hours in, or never.
    _checked_rows(table, batch_size, warn)
    if not ray.is_initialized():
        ray.init(log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 0)
    workers = workers or max(int(cpus) - 1, 1)  # a fixed default of 2 took every CPU of a 2-core machine
    if workers >= cpus:  # each actor holds a CPU for good; with none left the read never runs and Ray hangs
        raise ConfigError(f"--workers {workers}: the Ray cluster has {cpus:g} CPUs; use at most {cpus - 1:g} "
                          "(reading the table needs one)")
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the output keeps the table's row order
    context.enable_progress_bars = progress
    if table.suffix.lower() == ".parquet":
        dataset = ray.data.read_parquet(str(table.resolve()))
    else:
        # Every column as text, empty fields as "" (not null), quoted newlines allowed: as the local reader.
        header = csv_header(table)
        dataset = ray.data.read_csv(
            str(table.resolve()),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                              delimiter="\t" if table.suffix.lower() == ".tsv" else ","),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    model_dir = run_model_dir(run_dir)  # the actors load the model; the driver needs only its folder and genres
    with _parts_folder(table, out, model_dir, batch_size, restart, "ray") as parts:
        genres = model_meta(model_dir)["genres"]
        done, last = _ray_parts_done(parts, genres, warn)
        if done:  # resume: leave out the movies whose predictions are already in a part
            dataset = dataset.map_batches(lambda frame: frame[~frame["imdb_id"].isin(done)], batch_format="pandas")
        predictions = dataset.map_batches(_RayPredict, fn_constructor_args=(str(run_dir) if run_dir else None,
                                                                            str(table.resolve())),
                                          batch_size=batch_size, batch_format="pyarrow", num_cpus=1,
                                          compute=ray.data.ActorPoolStrategy(size=workers))
        index = last + 1  # after the last part kept: a part damaged and removed leaves a gap, not a name to overwrite
        try:
            for frame in predictions.iter_batches(batch_size=None, batch_format="pandas"):  # in table order
                if len(frame):
                    frame = _numpy_backed(frame)
                    atomic_write_file(parts / f"part-{index:06d}.parquet",
                                      lambda tmp, f=frame: f.to_parquet(tmp, index=False))
                    index += 1
        except ray.exceptions.RayError as error:
            raise _worker_error(error) from None
        unread = _join(sorted(parts.glob("part-*.parquet")), out, genres, provenance(model_dir, table))
        shutil.rmtree(parts)
    _warn_unread(unread, model_dir, _inputs_of(model_dir), warn)
    return out


def _numpy_backed(frame: pd.DataFrame) -> pd.DataFrame:
    """Ray's batch with the local engine's column types. Ray hands back Arrow-backed columns (``float[pyarrow]``),
    which ``to_csv`` writes through Python floats (0.12280000001192093 for the local 0.1228), and which a part's
    pandas metadata would hand on to whoever reads the Parquet ``out``."""
    return frame.astype({column: str if dtype.numpy_dtype == object else dtype.numpy_dtype
                         for column, dtype in frame.dtypes.items() if isinstance(dtype, pd.ArrowDtype)})
