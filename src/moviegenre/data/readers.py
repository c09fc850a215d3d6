"""Readers for the movie-table formats people already have. ``read_table`` picks the right one.

- the shared CSV (``imdb_id,title,year,genres,description,poster``; ``|``-separated genres, poster paths
  relative to the CSV): also the project's own save format;
- text-only CSVs (``description,genres``, no ids) such as ``mmimdb_dev_text.csv``;
- a one-hot poster CSV (``Id,Genre,<one 0/1 column per genre>``, posters as ``<Id>.jpg`` in a folder);
- the MM-IMDb layout (``dataset/<id>.json`` + ``<id>.jpeg``, optional ``split.json``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from moviegenre.data.images import is_url
from moviegenre.data.table import (
    GENRE_SEPARATOR,
    MovieTable,
    duplicate_id,
    genre_names,
    parse_year,
    raise_first,
    read_around,
    split_genres,
    text_value,
)
from moviegenre.errors import DataError, first_line

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

SHARED_COLUMNS = ("imdb_id", "genres")
SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}  # what a one-column header may hide
# Columns of the project table that a text-only CSV (description,genres) lacks: a CSV with one of them is a project
# table, even without its imdb_id (then refused for it), not a text-only one read without its posters and titles
# under made-up ids.
PROJECT_COLUMNS = {"imdb_id", "title", "year", "poster"}
SHARED_READ_COLUMNS = ("imdb_id", "title", "year", "genres", "description", "poster", "split")
TEXT_COLUMNS = ("description", "genres")
# An id column's name: id, ID, movie_id, imdbID, tconst (IMDb's own); not 'valid' or 'paid'.
ID_NAME = re.compile(r"(^|[_\s-])(id|ID|Id)$|[a-z](ID|Id)$|const$")
IMDB_ID = re.compile(r"\s*tt\d+\s*")
ONE_HOT_COLUMNS = ("Id", "Genre")
ONE_HOT_POSTER_FOLDERS = ("Images", "images", "posters", "Posters")
MMIMDB_SPLITS = {"train": "train", "dev": "validation", "val": "validation", "validation": "validation",
                 "test": "test"}
# An MM-IMDb <id>.json is a few kB and split.json well under 1 MB: anything far larger is not one.
MAX_JSON_BYTES = 16 * 1024 * 1024
# Parquet stores a repeated value once and compresses the rest: a 9 kB file can hold 400 MB of text, and a table is
# read whole. What its values take read is bounded by its size on disk, as a CSV's is by its own: real tables take
# 2-11 times their file's size (a million near-sequential ids, each with the same genre and no description, 83).
PARQUET_EXPANSION = 200
MIN_PARQUET_LIMIT = 16 * 1024 * 1024  # what a small file may take however well it compresses


def read_table(path: str | Path, *, labelled: bool | None = True, strict: bool = True,
               posters: str | Path | None = None, images: bool = False, usable: bool = False) -> MovieTable:
    """Read any supported movie table. ``strict`` raises the first problem; otherwise problems are kept
    on ``table.problems`` (what ``data inspect`` lists). ``posters`` overrides the one-hot poster folder.

    ``labelled`` True: genres required; None: checked as labelled if the table has genres (``data inspect``);
    False: any table of movies (to scrape or predict). ``images`` decodes every poster (see
    ``MovieTable.validate``). ``usable`` also requires one movie to learn from (``train``, ``data inspect``):
    when there is none, that comes before the problems of single rows.
    """
    path = check_table_path(path)
    columns = {"genres"}  # MM-IMDb folders and one-hot tables always hold genres
    # Values that do not parse (a year, a one-hot flag): ``strict`` stops at the first, else they are listed among the
    # others in row order, each read as unknown (a flag as absent).
    unreadable = None if strict else []
    if path.is_dir():
        table = read_mmimdb(path, labelled, unreadable)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        frame = next(csv_frames(path))
        columns = set(frame.columns)
        if _is_project(columns):
            table = from_shared_csv(path, frame, labelled, unreadable)
        elif set(ONE_HOT_COLUMNS) <= columns:
            table = _from_one_hot_csv(path, frame, posters, unreadable)
        elif "description" in columns:
            table = _from_text_csv(path, frame, labelled)
        else:
            raise DataError(path, f"unrecognised columns {sorted(columns)}",
                            hint="expected imdb_id,genres,... or description,genres or Id,Genre,<genre 0/1 columns>")
    elif path.suffix.lower() == ".parquet":
        frame = arrow_frame(path, _read_parquet(path))
        columns = set(frame.columns)
        table = from_shared_csv(path, frame, labelled, unreadable)
    else:
        raise DataError(path, f"unsupported file type '{path.suffix}'",
                        hint="give a .csv movie table, a .parquet table or an MM-IMDb folder")
    # A table that has a genres column (or genres anywhere) is one to train on: checked as 'train' checks it.
    with_genres = (table.is_labelled or "genres" in columns) if labelled is None else labelled
    table.problems = table.validate(labelled=with_genres, images=images)
    if unreadable:  # in row order among the others (a problem of the whole table, with no row, first)
        table.problems = sorted(unreadable + table.problems, key=lambda problem: problem.row or 0)
    unusable = table.unusable(labelled=with_genres) if usable else None
    if unusable:
        table.problems.insert(0, unusable)
    if strict:
        raise_first(table.problems)
    return table


def check_table_path(path: str | Path) -> Path:
    """``path`` as a Path, if it is a file or a folder: reading a named pipe or a device would wait or never end."""
    path = path_argument(path, "path")
    if not path.exists():
        raise DataError(path, "no such file or folder", hint="check the path")
    if not (path.is_file() or path.is_dir()):
        raise DataError(path, "not a regular file or folder (a pipe, socket or device)",
                        hint="give a .csv or .parquet table or an MM-IMDb folder")
    return path


def check_regular(path: Path, problem: str, hint: str) -> None:
    """A one-line DataError "``problem`` (not a regular file ...)" for a pipe or device, whose reading would wait for
    ever, or a folder; a missing path is left to the reader's own error."""
    if path.exists() and not path.is_file():
        raise DataError(path, f"{problem} (not a regular file: a pipe, socket, device or folder)", hint=hint)


def path_argument(path: object, argument: str) -> Path:
    """``path`` as a Path, or a one-line DataError naming ``argument``: Path() fails with a bare TypeError on a
    number, None or a list. Bytes are refused as well: every file here is named, and reported, as text."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str):
        raise DataError(argument, f"type {type(text).__name__} is not a path", hint="give a str or os.PathLike")
    return Path(text)


def read_csv_file(path: str | Path, problem: str, hint: str, **options) -> pd.DataFrame:
    """A small CSV a run keeps (a split, a training log) as pandas reads it (``options``), or a one-line DataError
    "``problem`` (why)": a pipe or device would make the reading wait for ever."""
    path = Path(path)
    try:
        check_regular(path, problem, hint)
        return pd.read_csv(path, **options)
    except (OSError, ValueError) as error:  # ValueError: ParserError, EmptyDataError, UnicodeDecodeError
        raise DataError(path, f"{problem} ({first_line(error)})", hint=hint) from None


def csv_rows(path: Path) -> Iterator[list[str]]:
    """A CSV (TSV: tab-separated) table's header, then each of its rows, every field a string.

    The csv module, not pandas: pandas takes a row with one field too many as an index and shifts every column,
    and pads a row that is short; here each row's fields are counted, and a stray quote is an error too. Every
    problem is a one-line DataError naming the file and the row or line, raised where the reading meets it.
    """
    tsv = path.suffix.lower() == ".tsv"
    header, row, line = None, 0, 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t" if tsv else ",", strict=True)
            for fields in reader:
                line = reader.line_num
                if len(fields) <= 1 and not "".join(fields).strip():  # blank lines are skipped, as pandas skips them
                    continue
                if header is None:
                    header = _header(path, fields)
                    yield header
                    continue
                row += 1
                if len(fields) != len(header):
                    hint = (f"put double quotes around values that contain {'tabs' if tsv else 'commas'}"
                            if len(fields) > len(header) else "give every column a value, even an empty one")
                    raise DataError(path, f"{len(fields)} fields, but the header has {len(header)}", row=row,
                                    hint=hint)
                yield fields
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except csv.Error as error:
        raise DataError(path, f"not a readable CSV: {error}, in the row starting on line {line + 1}",
                        hint="check quoting") from None
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})", hint="check the path") from None
    if header is None:
        raise DataError(path, "the file is empty", hint="give a CSV with a header row")


def csv_frames(path: Path, rows: int | None = None) -> Iterator[pd.DataFrame]:
    """``csv_rows`` as DataFrames of ``rows`` rows (None: all in one; a table without rows gives one empty frame)."""
    records = csv_rows(path)
    header, chunk, empty = next(records), [], True
    for fields in records:
        chunk.append(fields)
        if rows and len(chunk) == rows:
            yield pd.DataFrame(chunk, columns=header, dtype=str)
            chunk, empty = [], False
    if chunk or empty:
        yield pd.DataFrame(chunk, columns=header, dtype=str)


def csv_header(path: Path) -> list[str]:
    return next(csv_rows(path))


def _is_project(columns) -> bool:
    return bool(PROJECT_COLUMNS & set(columns))


def is_streamable(path: Path) -> bool:
    """Whether ``iter_table_chunks`` reads the table at ``path``: a shared CSV (or TSV) or a Parquet table."""
    return streamed_columns(path) is not None


def streamed_columns(path: Path) -> list[str] | None:
    """The column names of a table ``iter_table_chunks`` reads (a shared CSV or TSV, or a Parquet table), from its
    header or schema alone; None for another kind of table."""
    suffix = path.suffix.lower()
    if not path.is_file():
        return None
    if suffix in (".csv", ".tsv"):
        header = csv_header(path)
        return header if _is_project(header) else None
    if suffix != ".parquet":
        return None
    import pyarrow.parquet as pq

    with _reading(path), pq.ParquetFile(path) as file:
        return list(file.schema_arrow.names)


def iter_table_chunks(path: Path, rows: int, first_rows: dict[str, int] | None = None,
                      around: list[DataError] | None = None) -> Iterator[MovieTable]:
    """A shared CSV or Parquet table to predict, streamed from disk ``rows`` at a time, each chunk checked as
    ``read_table`` checks a table, and a Parquet table bounded as it bounds one (``first_rows``, ``around``: see
    ``shared_chunk``)."""
    with _reading(path):
        if path.suffix.lower() == ".parquet":
            batches = _parquet_batches(path, rows)
            frames = (arrow_frame(path, batch, index * rows) for index, batch in enumerate(batches))
        else:
            frames = csv_frames(path, rows)
        for index, frame in enumerate(frames):
            yield shared_chunk(path, frame, index * rows, first_rows, around)


def shared_chunk(path: Path, frame: pd.DataFrame, first_row: int = 0, first_rows: dict[str, int] | None = None,
                 around: list[DataError] | None = None) -> MovieTable:
    """Raw shared-format rows (strings, from CSV or Parquet) -> a checked table to predict, as ``read_table`` makes
    it, each problem a prediction can do without read around (``table.read_around``) and added to ``around``.

    Errors name the row in the whole file: ``first_row`` is the chunk's offset. ``first_rows`` (each id's row in the
    file), carried from chunk to chunk, finds an id given twice in different chunks; without it, only within one.
    """
    try:
        unreadable: list[DataError] = []
        table = from_shared_csv(path, frame.reset_index(drop=True), labelled=False, unreadable=unreadable)
        if first_rows is not None:
            _note_ids(path, table.ids, first_row, first_rows)
        table, problems = read_around(table, unreadable + table.validate(labelled=False))
    except DataError as error:
        raise _in_file(error, first_row) from None
    if around is not None:
        around.extend(_in_file(problem, first_row) for problem in problems)
    return table


def _in_file(error: DataError, first_row: int) -> DataError:
    """A chunk's ``error`` with its row counted in the whole file."""
    if error.row is None:
        return error
    return DataError(error.source, error.problem, row=error.row + first_row, field=error.field, hint=error.hint)


def _note_ids(path: Path, ids: list[str], first_row: int, first_rows: dict[str, int]) -> None:
    """Add a chunk's ids to ``first_rows``, refusing one already there as ``MovieTable.validate`` refuses it, with
    both rows (the error's row counted in the chunk, as ``shared_chunk`` expects; the first one's in the file). Before
    ``validate``: its own message would count the first row in the chunk too."""
    for row, movie in enumerate(ids, start=1):
        if not movie:  # an empty id: validate's own error
            continue
        first = first_rows.setdefault(movie, first_row + row)
        if first != first_row + row:
            raise duplicate_id(path, movie, row, first)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A damaged Parquet table's Arrow error as one line naming it, worded as ``read_table`` words it."""
    import pyarrow as pa

    try:
        yield
    except pa.ArrowException as error:
        raise unreadable_parquet(path, error) from None
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})", hint="check its permissions") from None


def _header(path: Path, names: list[str]) -> list[str]:
    tsv = path.suffix.lower() == ".tsv"
    separator = next((name for mark, name in SEPARATORS.items() if len(names) == 1 and mark in names[0]
                      and name != ("tab" if tsv else "comma")), None)
    if separator:  # a spreadsheet's export in another locale: every row would be one field
        shown = names[0][:80].replace("\t", "\\t")
        raise DataError(path, f"the header is one column, '{shown}': the file looks {separator}-separated",
                        hint="give a .csv file comma-separated, or a .tsv file tab-separated")
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise DataError(path, f"column '{repeated[0]}' appears more than once in the header", field=repeated[0],
                        hint="rename or remove the repeated column")
    return names


def not_utf8(path: Path) -> DataError:
    """The error naming the first line of ``path`` that is not UTF-8 text (a decoder reading in blocks knows only
    an offset in one)."""
    with path.open("rb") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as error:
                return DataError(path, f"line {number} is not UTF-8 text (byte 0x{text[error.start]:02x})",
                                 hint="re-save the file as UTF-8")
    return DataError(path, "not UTF-8 text", hint="re-save the file as UTF-8")


def _read_parquet(path: Path) -> pa.Table:
    try:
        limit = _parquet_limit(path)
        data = _read_bounded(path, limit)
    except Exception as error:  # noqa: BLE001 - pyarrow and pandas' metadata raise a dozen types, all for a damaged file
        raise unreadable_parquet(path, error) from None
    if data is None:
        raise _over_parquet_limit(path, limit)
    return data


def _parquet_limit(path: Path) -> int:
    return max(MIN_PARQUET_LIMIT, PARQUET_EXPANSION * path.stat().st_size)


def _over_parquet_limit(path: Path, limit: int) -> DataError:
    return DataError(path, f"would take over {limit:,} bytes decompressed, more than {PARQUET_EXPANSION} times its "
                           "size on disk", hint="a decompression bomb? if not, save the table as a CSV")


def _read_bounded(path: Path, limit: int) -> pa.Table | None:
    """The Parquet table at ``path``, or None where it takes over ``limit`` bytes read, found before its text is
    decoded: the metadata gives its pages' size uncompressed, and the text is read as dictionaries, each distinct value
    once, counted for each row that holds it, then decoded (read once, not once to measure and once to use)."""
    with _bounded_parquet_file(path, limit) as (file, arrow_schema):
        if file is None:
            return None
        data = file.read()
    if sum(_decoded_size(chunk) for column in data.columns for chunk in column.chunks) > limit:
        return None
    return data.cast(arrow_schema)


def _parquet_batches(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    """The Parquet table at ``path``, ``rows`` at a time, bounded as ``read_table`` bounds it whole (the batch that
    takes it over the limit is counted before it is decoded): a few kB can hold gigabytes of text."""
    limit = _parquet_limit(path)
    with _bounded_parquet_file(path, limit) as (file, arrow_schema):
        if file is None:
            raise _over_parquet_limit(path, limit)
        taken = 0
        for batch in file.iter_batches(batch_size=rows):
            taken += sum(map(_decoded_size, batch.columns))
            if taken > limit:
                raise _over_parquet_limit(path, limit)
            yield batch.cast(arrow_schema)


@contextmanager
def _bounded_parquet_file(path: Path, limit: int) -> Iterator[tuple[pq.ParquetFile | None, pa.Schema]]:
    """The Parquet file at ``path``, its text read as dictionaries (see ``_read_bounded``), or None where its pages
    alone take over ``limit`` bytes uncompressed; and its schema as written, to cast what is read back to."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as file:
        meta, arrow_schema = file.metadata, file.schema_arrow  # the latter with pandas' metadata
    pages = sum(meta.row_group(group).column(column).total_uncompressed_size
                for group in range(meta.num_row_groups) for column in range(meta.num_columns))
    if pages > limit:
        yield None, arrow_schema
        return
    text = [column.path for column in meta.schema if column.physical_type == "BYTE_ARRAY"]
    with pq.ParquetFile(path, metadata=meta, read_dictionary=text) as file:
        yield file, arrow_schema


def _decoded_size(array: pa.Array) -> int:
    """About the bytes ``array`` takes read: 8 a value (a reference to it, at least), and each text's own once per
    row that holds it (a dictionary stores it once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    size = 8 * len(array)
    if pa.types.is_dictionary(array.type):
        return size + (pc.sum(pc.take(pc.binary_length(array.dictionary), array.indices)).as_py() or 0)
    if isinstance(array, pa.MapArray):
        return size + _decoded_size(array.keys) + _decoded_size(array.items)
    if isinstance(array, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):
        return size + _decoded_size(array.flatten())
    if pa.types.is_struct(array.type):
        return size + sum(map(_decoded_size, array.flatten()))
    return max(size, array.nbytes)  # numbers, and a column of nulls, which the file stores in a few bytes


def arrow_frame(path: Path, data: pa.Table | pa.RecordBatch, first_row: int = 0) -> pd.DataFrame:
    """Arrow columns (a Parquet file's, a Ray batch's) as a CSV's text, for the shared reader: strings as they are,
    numbers as written, nulls as "", genres stored as a list of names joined by '|', bytes decoded as UTF-8 (Spark
    and Impala may write strings so). A column the reader uses that holds anything else (a struct, a map, a list) is
    an error naming it: spelt out, it would be read as a genre named "{'a': 1}". ``first_row``: the rows' offset in
    the file, for the errors."""
    import pyarrow as pa

    columns = {}
    for name, column in zip(data.schema.names, data.columns):
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        values = column.to_pylist()
        if name not in SHARED_READ_COLUMNS:  # never read: as they come
            columns[name] = values
        elif name == "genres" and (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and \
                _is_text(kind.value_type):
            columns[name] = [GENRE_SEPARATOR.join(_text(path, first_row + row, name, g) for g in v or [])
                             for row, v in enumerate(values, start=1)]
        elif _is_text(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind) or \
                pa.types.is_decimal(kind) or pa.types.is_null(kind):
            columns[name] = [_text(path, first_row + row, name, v) for row, v in enumerate(values, start=1)]
        else:
            raise DataError(path, f"holds {kind} values", field=name,
                            hint="store it as text" + (" or a list of texts" if name == "genres" else ""))
    return pd.DataFrame(columns, dtype=object)


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or \
        pa.types.is_large_binary(kind)


def _text(path: Path, row: int, field: str, value: object) -> str:
    return text_value(path, row, field, value, hint="re-save the table with UTF-8 text")


def unreadable_parquet(path: Path, error: Exception) -> DataError:
    return DataError(path, f"not a readable Parquet table ({first_line(error)})", hint="re-export it, or give a CSV")


def _require(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise DataError(path, f"missing column '{column}' (found: {', '.join(frame.columns)})",
                            field=column, hint="add the column to the header row")


def _poster_path(folder: Path, poster: str) -> str:
    """A poster field as a path from the table's folder ("" for none); a URL is kept as given, for the table's check
    to name it."""
    if not poster.strip() or is_url(poster):
        return poster.strip()
    return os.path.normpath(folder / poster)


def from_shared_csv(path: Path, frame: pd.DataFrame, labelled: bool, unreadable: list[DataError] | None = None
                    ) -> MovieTable:
    """Shared-format rows (every field a string: a CSV's, or ``arrow_frame``'s) as a table; a year or split that
    does not parse raises, or, given ``unreadable``, is added to it and read as unknown (``data inspect`` lists every
    problem)."""
    _require(path, frame, SHARED_COLUMNS if labelled else ("imdb_id",))
    folder = path.parent.resolve()
    get = lambda column: frame[column] if column in frame else pd.Series([""] * len(frame))

    records = [
        {"imdb_id": imdb_id.strip(), "title": title, "year": _year(path, row, value, unreadable),
         "genres": split_genres(genres), "description": description,
         "poster": _poster_path(folder, poster)}
        for row, (imdb_id, title, value, genres, description, poster) in enumerate(
            zip(frame["imdb_id"], get("title"), get("year"), get("genres"), get("description"), get("poster")),
            start=1)
    ]
    table = MovieTable.from_records(records, source=str(path))
    if "split" in frame:
        # An empty column gives no split (one is made by seed); one partly empty would leave rows out of training.
        given = labelled is not False and any(value.strip() for value in frame["split"])
        hint = "give every row train, validation or test, or leave the whole column empty to split by seed"
        table.frame["split"] = _given_split(path, table.ids, frame["split"], unreadable, hint if given else None)
    return table


def _given_split(path: Path, ids: list[str], values: Iterable[str], unreadable: list[DataError] | None,
                 unlisted_hint: str | None) -> list[str]:
    """Each row's split (train, validation or test) from ``values`` as written (train, dev, ...), "" for none.

    An unknown value raises, or, given ``unreadable``, is added to it and read as none; so is a row with no split,
    unless ``unlisted_hint`` (what to do about it) is None: training would leave such a row out unseen, but a table
    to predict has no use for its split."""
    splits = []
    for row, (movie, value) in enumerate(zip(ids, values), start=1):
        split = MMIMDB_SPLITS.get(value.strip(), "")
        if value.strip() and not split:
            _report(DataError(path, f"unknown split '{value.strip()}'", row=row, field="split",
                              hint="use train, validation or test"), unreadable)
        elif not split and unlisted_hint:
            _report(DataError(path, f"'{movie}' is in no split", row=row, field="split", hint=unlisted_hint),
                    unreadable)
        splits.append(split)
    return splits


def _year(path: Path, row: int, value: str, unreadable: list[DataError] | None) -> int | None:
    """``parse_year``, a year that does not parse reported (``_report``) and read as unknown."""
    try:
        return parse_year(path, row, value)
    except DataError as error:
        _report(error, unreadable)
        return None


def _report(error: DataError, unreadable: list[DataError] | None) -> None:
    """A value that does not parse: raised (a strict reading), or added to ``unreadable`` (``data inspect`` lists
    every problem) while the reading goes on with the value read as unknown."""
    if unreadable is None:
        raise error
    unreadable.append(error)


def _from_text_csv(path: Path, frame: pd.DataFrame, labelled: bool) -> MovieTable:
    _require(path, frame, TEXT_COLUMNS if labelled else ("description",))
    for column in frame.columns:  # read as text only, its ids would be dropped for made-up ones, duplicates unseen
        values = [value for value in frame[column].head(20) if value.strip()]
        if column not in TEXT_COLUMNS and (ID_NAME.search(column) or (values and all(map(IMDB_ID.fullmatch, values)))):
            raise DataError(path, "looks like the movies' ids", field=column,
                            hint="name the column imdb_id (a movie table), or remove it: a table of description and "
                                 "genres alone is read under made-up ids")
    genres = frame["genres"] if "genres" in frame else [""] * len(frame)
    records = [
        {"imdb_id": f"{path.stem}-{row}", "title": "", "year": None, "genres": split_genres(g),
         "description": description}
        for row, (description, g) in enumerate(zip(frame["description"], genres), start=1)
    ]
    return MovieTable.from_records(records, source=str(path))


def _from_one_hot_csv(path: Path, frame: pd.DataFrame, posters: str | Path | None,
                      unreadable: list[DataError] | None = None) -> MovieTable:
    folder = Path(posters) if posters else _one_hot_poster_folder(path)
    genre_columns = [c for c in frame.columns if c not in ONE_HOT_COLUMNS]
    if not genre_columns:
        raise DataError(path, "no genre columns after Id and Genre", hint="add one 0/1 column per genre")
    records = []
    for row, values in enumerate(frame.itertuples(index=False), start=1):
        values = dict(zip(frame.columns, values))
        genres = []
        for genre in genre_columns:
            flag = values[genre].strip()
            if flag not in ("0", "1", "0.0", "1.0"):  # read as absent where it is only listed
                _report(DataError(path, f"value '{flag}' is not 0 or 1", row=row, field=genre,
                                  hint="one-hot genre columns hold 0 or 1"), unreadable)
            if flag.startswith("1"):
                genres.append(genre)
        movie_id = values["Id"].strip()
        records.append({"imdb_id": movie_id, "genres": genres,
                        "poster": os.path.realpath(folder / f"{movie_id}.jpg") if movie_id else ""})
    return MovieTable.from_records(records, source=str(path))


def _one_hot_poster_folder(path: Path) -> Path:
    for name in ONE_HOT_POSTER_FOLDERS:
        if (path.parent / name).is_dir():
            return path.parent / name
    return path.parent


def read_mmimdb(path: Path, labelled: bool | None = True, unreadable: list[DataError] | None = None) -> MovieTable:
    """An MM-IMDb folder: ``path`` is the folder holding ``dataset/`` (and ``split.json``) or ``dataset/`` itself.

    ``split.json`` must list every movie, unless ``labelled`` is False (a table to predict); a movie it leaves out,
    or a split.json that cannot be read, raises, or, given ``unreadable``, is added to it (the file then unused)."""
    dataset = path / "dataset" if (path / "dataset").is_dir() else path
    json_files = sorted(dataset.glob("*.json"))
    json_files = [f for f in json_files if f.name != "split.json"]
    if not json_files:
        raise DataError(path, "no <id>.json files found",
                        hint="give an MM-IMDb folder (dataset/<id>.json + <id>.jpeg) or a CSV table")
    records = []
    for file in json_files:
        info = read_json(file)
        if not isinstance(info, dict):
            raise DataError(file, "expected a JSON object", hint="fix or remove the file")
        plots = info.get("plot") or []
        plots = [plots] if isinstance(plots, str) else plots
        if not isinstance(plots, list) or not all(isinstance(p, str) for p in plots):
            raise DataError(file, "'plot' must be a text or a list of texts", field="plot")
        # IMDbPY appends "::author" to plots; the author is not part of the description.
        plots = [p.split("::")[0].strip() for p in plots]
        genres = info.get("genres") or []
        if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
            raise DataError(file, "'genres' must be a list of names", field="genres")
        title = info.get("title") or ""
        if not isinstance(title, str):
            raise DataError(file, "'title' must be a text", field="title")
        poster = file.with_suffix(".jpeg")
        year = info.get("year")
        records.append({"imdb_id": _mmimdb_id(file.stem), "title": title,
                        "year": _year(file, 1, str(year), unreadable) if year not in (None, "") else None,
                        "genres": genre_names(genres),
                        "description": max(plots, key=len) if plots else "",
                        # lexists: a link that leads nowhere (a loop) is a poster the table's check names
                        "poster": os.path.normpath(dataset.resolve() / poster.name) if os.path.lexists(poster) else "",
                        "stem": file.stem})
    table = MovieTable.from_records(records, source=str(path))
    split_file = next((f for f in (path / "split.json", dataset / "split.json") if f.exists()), None)
    listed = _listed_splits(split_file, unreadable) if split_file else None
    if listed is not None:
        stems = [record["stem"] for record in records]
        hint = f"list every movie in {split_file} under train, dev or test, or remove it to split by seed"
        table.frame["split"] = _given_split(path, stems, [listed.get(stem, "") for stem in stems], unreadable,
                                            hint if labelled is not False else None)
    return table


def _mmimdb_id(stem: str) -> str:
    return f"tt{stem}" if stem.isdigit() else stem


def _listed_splits(path: Path, unreadable: list[DataError] | None) -> dict[str, str] | None:
    """``_read_split_json``, or None where the file is unusable and ``unreadable`` takes its problem: ``data inspect``
    lists it with the movies' own, which a split file that cannot be read need not hide."""
    try:
        return _read_split_json(path)
    except DataError as error:
        _report(error, unreadable)
        return None


def _read_split_json(path: Path) -> dict[str, str]:
    """The name of the list (train, dev, ...) each id is in."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, "expected {\"train\": [...], \"dev\": [...], \"test\": [...]}")
    split_of = {}
    for name, ids in data.items():
        if name not in MMIMDB_SPLITS:
            raise DataError(path, f"unknown split '{name}'", field=name, hint="use train, dev and test")
        if not isinstance(ids, list):
            raise DataError(path, f"'{name}' must be a list of ids", field=name, hint="fix or remove the file")
        for movie_id in map(str, ids):
            first = split_of.setdefault(movie_id, name)
            if first != name:  # else the movie would be in whichever list came last
                raise DataError(path, f"'{movie_id}' is listed under both '{first}' and '{name}'", field=name,
                                hint="list each movie in one split")
    return split_of


def read_json(path: str | Path, limit: int = MAX_JSON_BYTES, hint: str | None = None) -> object:
    """A JSON file's value, or a one-line DataError for a folder, a pipe or device, a file over ``limit`` bytes, a
    broken or too deeply nested file (``hint``: what to do, where the caller knows better than "fix the file")."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(path, "not a regular file", hint=hint or "remove it or give it another name")
        if path.stat().st_size > limit:
            raise DataError(path, f"over the {limit:,} byte limit", hint=hint or "fix or remove the file")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})", hint=hint or "check its permissions") \
            from None
    except UnicodeDecodeError:
        raise DataError(path, "not UTF-8 text", hint=hint or "re-save the file as UTF-8") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"not valid JSON ({error.msg} at line {error.lineno})",
                        hint=hint or "fix or remove the file") from None
    except ValueError:  # json's one other: Python refuses to convert an integer that long (a denial-of-service guard)
        raise DataError(path, f"not valid JSON (a number of more than {sys.get_int_max_str_digits():,} digits)",
                        hint=hint or "fix or remove the file") from None
    except RecursionError:
        raise DataError(path, "JSON nested too deeply", hint=hint or "fix or remove the file") from None
