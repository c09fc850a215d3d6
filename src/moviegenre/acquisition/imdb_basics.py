"""Turn IMDb's ``title.basics.tsv`` (or ``.tsv.gz``) into a movie table, streaming, in bounded memory.

The real file has ~12M rows (~1 GB unpacked). pyarrow's streaming CSV reader parses it in C++ one block at
a time and every filter runs on whole columns, so memory holds one block plus the rows kept, never the file.
IMDb's TSV has no quoting (titles contain literal ``"``) and writes nulls as ``\\N``; the reader is set up for
exactly that. Rows that cannot be read (a wrong number of fields, a byte that is not UTF-8), or that ``scrape``
would refuse (no IMDb id, an id listed twice, a title or genres over ``data inspect``'s limits, a startYear no reader
takes), are counted and reported, never dropped silently.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from moviegenre.acquisition import IMDB_ID
from moviegenre.data.table import MAX_GENRE_CHARS, MAX_GENRES, MAX_TITLE_CHARS, YEARS, MovieTable, absurd_fields
from moviegenre.errors import ConfigError, DataError, first_line
from moviegenre.params import Interval

COLUMNS = ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear", "endYear",
           "runtimeMinutes", "genres")
# Every titleType IMDb uses; an unknown one given to --types is almost surely a typo ("movies").
TITLE_TYPES = ("movie", "short", "tvSeries", "tvMiniSeries", "tvSpecial", "tvEpisode", "tvShort", "tvMovie",
               "video", "videoGame", "tvPilot")
# A row where one of these is not a number is malformed. runtimeMinutes is not: only --min-runtime reads it, and a
# runtime that is not a number is unknown to it, as \N is (a title it would drop is kept when no filter asks).
NUMERIC_COLUMNS = ("isAdult", "startYear")
# 2 MiB blocks. The reader reads ahead a few dozen blocks, so memory grows with the block size; below
# ~1 MiB the per-block Python work starts to cost more than it saves.
BLOCK_SIZE = 2 << 20
MAX_EXAMPLES = 20
# The options' ranges: what --years parses (4 digits), and far above the longest film's runtime (a few thousand
# minutes). Arrow cannot compare a column with a number of 2**63 or more: a typo would be a TypeError traceback.
YEAR = Interval(0, 9999, whole=True)
RUNTIME = Interval(0, 100_000, whole=True)
GZIP_MAGIC = b"\x1f\x8b"
LINE_END = re.compile(r"\r\n|\n|\r")  # all three end a line for Arrow
# What a line the reader cannot take becomes: a NUL (which no text file has: one in the first 2 MiB refuses the file),
# why, and where; one field, so Arrow hands it to the malformed-row handler with its row number.
NOT_UTF8, TOO_LONG = "not UTF-8 text", f"a line over {BLOCK_SIZE >> 20} MiB"
MARKER = re.compile(rf"\x00({NOT_UTF8}|{TOO_LONG}) at byte (\d+)")
LINE_BREAK = re.compile(rb"[\r\n]")
HEADER = re.compile(rf"\ufeff?(?P<blank>(?:{LINE_END.pattern})*)(?P<names>[^\r\n]*)(?:{LINE_END.pattern})")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BasicsFilter:
    """Which titles to keep. The defaults keep what the original design kept: feature films, not adult."""

    years: tuple[int, int] | None = None  # inclusive startYear range; None keeps every year, unknown included
    types: tuple[str, ...] = ("movie",)  # titleType values to keep (drops tvSeries, short, video, ... )
    min_runtime: int | None = None  # minutes; when set, titles of unknown runtime are dropped too
    exclude_genres: tuple[str, ...] = ()  # drop a title having any of these genres (e.g. "Short")
    include_adult: bool = False  # isAdult=1 titles are dropped unless asked for

    def __post_init__(self) -> None:
        if self.years is not None and not all(year in YEAR for year in self.years):
            raise ConfigError(f"--years {self.years[0]}-{self.years[1]}: give each year as {YEAR}")
        if self.min_runtime is not None and self.min_runtime not in RUNTIME:
            raise ConfigError(f"--min-runtime {self.min_runtime}: give {RUNTIME}")


@dataclass
class BasicsReport:
    """What happened to every row: kept, dropped by which filter, or unreadable (with examples)."""

    rows: int = 0  # data rows seen, malformed ones included
    kept: int = 0
    malformed: int = 0
    examples: list[DataError] = field(default_factory=list)  # the first MAX_EXAMPLES malformed rows
    dropped: dict[str, int] = field(default_factory=dict)  # filter name -> rows it removed

    def add_malformed(self, problem: DataError) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(problem)


def parse_years(text: str | None) -> tuple[int, int] | None:
    """``2000-2010`` or ``2005`` to an inclusive range; ``None``/empty means every year."""
    if not text or not text.strip():
        return None
    match = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not match:
        raise DataError("--years", f"'{text}' is not a year range", hint="use e.g. 2000-2010 or 2005")
    first, last = int(match[1]), int(match[2] or match[1])
    if first > last:
        raise DataError("--years", f"range '{text}' ends before it starts", hint="write the earlier year first")
    return first, last


def parse_types(text: str) -> tuple[str, ...]:
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in types if t not in TITLE_TYPES]
    if unknown or not types:
        raise DataError("--types", f"unknown title type '{unknown[0] if unknown else text}'",
                        hint=f"use a comma-separated list of {', '.join(TITLE_TYPES)}")
    return types


def read_basics(path: str | Path, keep: BasicsFilter = BasicsFilter(),
                progress: Progress | None = None) -> tuple[MovieTable, BasicsReport]:
    """Read and filter ``path``; ``progress(bytes_read, bytes_total)`` is called after every block."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file", hint="download title.basics.tsv.gz from IMDb's datasets page")
    report = BasicsReport()
    total = path.stat().st_size
    raw = pa.OSFile(str(path), "rb")
    with raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        names, header_lines = _check_start(path, gzipped)
        stream = pa.CompressedInputStream(raw, "gzip") if gzipped else raw
        reader = _open(pa.PythonFile(_Utf8Only(stream), mode="r"), path, report, names, header_lines)
        kept = []
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as error:
                raise DataError(path, f"unreadable past row {report.rows}: {first_line(error)}",
                                hint="re-download the file; it may be cut short or not UTF-8") from None
            kept.append(_filter(pa.Table.from_batches([batch]), keep, report, path))
            if progress:
                progress(raw.tell(), total)
    return _first_of_each_id(_to_movie_table(kept, path), report), report


class _Utf8Only(io.RawIOBase):
    """The file's bytes, each line holding a byte that is not UTF-8, or longer than a block, made a ``MARKER`` line.

    Arrow decodes an invalid row's text to hand it to the malformed-row handler; on binary input that decode
    fails inside Arrow's callback ("Exception ignored", at times an abort), so binary must never get that far.
    Raising here instead would unwind through Arrow's read-ahead thread, which aborts too. Only whole lines are
    passed on (a line break is ASCII, so a whole line never ends inside a character), and no line is held back past
    a block: a line without end would fill memory. Arrow reads a block at a time, so only the line held back from
    the read before can end over a block long.
    """

    def __init__(self, stream: pa.NativeFile) -> None:
        super().__init__()
        self.stream, self.offset, self.pending, self.skipping = stream, 0, b"", False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self.stream.read(size)
            if self.skipping:  # the rest of a line too long to keep, up to its line break
                end = LINE_BREAK.search(data)
                if data and not end:
                    self.offset += len(data)
                    continue
                skipped = end.start() if end else 0
                data, self.offset, self.skipping = data[skipped:], self.offset + skipped, False
            lines = self.pending + data
            cut = max(lines.rfind(b"\n"), lines.rfind(b"\r")) + 1 if data else len(lines)
            if not cut and len(lines) > BLOCK_SIZE:
                out, self.pending, self.skipping = _marker(TOO_LONG, self.offset), b"", True
                self.offset += len(lines)
                return out
            out, self.pending = lines[:cut], lines[cut:]
            first = LINE_BREAK.search(out)
            if first and first.start() > BLOCK_SIZE:  # begun in an earlier read, ended in this one
                out = _marker(TOO_LONG, self.offset) + _utf8_lines(out[first.start():], self.offset + first.start())
            else:
                out = _utf8_lines(out, self.offset)
            self.offset += cut
            if out or not data:
                return out


def _utf8_lines(lines: bytes, offset: int) -> bytes:
    """``lines`` (starting at byte ``offset`` of the file) with each line that is not UTF-8 made a marker line."""
    done = []
    while True:
        try:
            lines.decode("utf-8")
        except UnicodeDecodeError as error:
            start = max(lines.rfind(b"\n", 0, error.start), lines.rfind(b"\r", 0, error.start)) + 1
            end = LINE_BREAK.search(lines, error.start)
            end = end.start() if end else len(lines)
            done += [lines[:start], _marker(NOT_UTF8, offset + error.start)]
            lines, offset = lines[end:], offset + end
        else:
            return b"".join(done) + lines if done else lines


def _marker(why: str, byte: int) -> bytes:
    return f"\x00{why} at byte {byte}".encode()


def _check_start(path: Path, gzipped: bool) -> tuple[list[str], int]:
    """The header's column names and lines (``_header``). A binary file, or one without the columns needed, is
    refused on its first bytes, before Arrow starts reading (and reading ahead) at all: raising while its reader is
    open can abort the process."""
    try:
        with pa.OSFile(str(path), "rb") as raw:
            head = (pa.CompressedInputStream(raw, "gzip") if gzipped else raw).read(BLOCK_SIZE)
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(path, f"unreadable: {first_line(error)}",
                        hint="re-download the file; it may be cut short") from None
    _check_text(path, head)
    names, lines = _header(path, codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head))
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)} (found: {', '.join(names)[:200]})",
                        hint="give IMDb's title.basics.tsv(.gz): tab-separated, header row included")
    repeated = [c for c in COLUMNS if names.count(c) > 1]
    if repeated:  # Arrow reads them all, and no filter could tell which one to use
        raise DataError(path, f"column(s) {', '.join(repeated)} listed twice in the header",
                        hint="give IMDb's title.basics.tsv(.gz) as downloaded")
    return names, lines


def _header(path: Path, text: str) -> tuple[list[str], int]:
    """The column names, and the lines up to and including them, found as Arrow finds a header: the first non-empty
    line, a byte-order mark dropped. Arrow is given both, so the columns it reads are the ones checked."""
    header = HEADER.match(text)
    if not header:  # Arrow fails on it too, from its reader, where failing can abort
        problem = "the file is empty" if not text else f"no line break after the header (in {BLOCK_SIZE >> 20} MiB)"
        raise DataError(path, f"not a title.basics TSV: {problem}",
                        hint="give IMDb's title.basics.tsv(.gz) as downloaded")
    blank_lines, names = header["blank"], header["names"].split("\t")
    return names, len(LINE_END.findall(blank_lines)) + 1


def _check_text(path: Path, head: bytes) -> None:
    """Refuse a file whose first bytes look binary: a byte that is not UTF-8 in the header, or beside a NUL, or in more
    than MAX_EXAMPLES lines. A few such lines in a text file are rows the reader skips and counts, as it does others."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at the end is fine
    except UnicodeDecodeError as error:
        header_end = LINE_BREAK.search(head, len(head) - len(head.lstrip(b"\r\n")))
        bad_lines = sum(not _is_utf8(line) for line in head.splitlines()[:-1])  # the last may be cut
        if b"\x00" in head or not header_end or error.start < header_end.start() or bad_lines > MAX_EXAMPLES:
            raise DataError(path, f"not UTF-8 text (byte {error.start:,} of the uncompressed data)",
                            hint="give IMDb's title.basics.tsv(.gz) as downloaded") from None


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _open(stream: pa.NativeFile, path: Path, report: BasicsReport, names: list[str],
          header_lines: int) -> pacsv.CSVStreamingReader:
    def malformed(row: pacsv.InvalidRow) -> str:
        report.rows += 1
        marked = MARKER.fullmatch(row.text or "")
        if marked:
            problem = f"{marked[1]} (byte {int(marked[2]):,} of the uncompressed data)"
        else:
            problem = f"{row.actual_columns} tab-separated fields instead of {row.expected_columns}"
        # Rows are numbered from the one after the header: Arrow's numbers count every line skip_rows skips (blank
        # ones before the header too), and no blank line after them.
        report.add_malformed(DataError(path, f"{problem}; row skipped", row=row.number - header_lines))
        return "skip"

    try:
        reader = pacsv.open_csv(
            stream,
            # Threads would parse blocks in parallel but lose the line numbers of malformed rows.
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=False, column_names=names,
                                           skip_rows=header_lines),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                              invalid_row_handler=malformed),
            # Everything is read as text: a stray non-number must cost one row, not fail a whole block.
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS},
                                                 null_values=["\\N"], strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(path, f"not a title.basics TSV: {first_line(error)}",
                        hint=f"expected a tab-separated header with {', '.join(COLUMNS)}") from None
    return reader


def _filter(table: pa.Table, keep: BasicsFilter, report: BasicsReport, path: Path) -> pa.Table:
    report.rows += table.num_rows
    table = _drop_bad_numbers(table, report, path)
    numbers = {c: pc.cast(table[c], pa.int64()) for c in NUMERIC_COLUMNS}
    # (filter, passes, whether a null passes): a range asked for (years, runtime) cannot be met by an unknown
    # value; an exclusion (adult, genre) is not triggered by one.
    steps = [("titleType", pc.is_in(table["titleType"], pa.array(keep.types)), False)]
    if not keep.include_adult:
        steps.append(("isAdult", pc.not_equal(numbers["isAdult"], 1), True))
    if keep.years:
        year = numbers["startYear"]
        steps.append(("years", pc.and_(pc.greater_equal(year, keep.years[0]), pc.less_equal(year, keep.years[1])),
                      False))
    if keep.min_runtime is not None:
        runtime = table["runtimeMinutes"]
        runtime = pc.cast(pc.if_else(_is_number(runtime), runtime, None), pa.int64())
        steps.append(("runtime", pc.greater_equal(runtime, keep.min_runtime), False))
    for genre in keep.exclude_genres:
        has = pc.match_substring_regex(table["genres"], f"(^|,){re.escape(genre)}(,|$)")
        steps.append((f"genre {genre}", pc.invert(has), True))
    mask = pa.array([True] * table.num_rows, pa.bool_())  # typed: an empty block would infer the null type
    for name, passes, unknown_passes in steps:
        passes = pc.fill_null(passes, unknown_passes)
        report.dropped[name] = report.dropped.get(name, 0) + (pc.sum(pc.and_not(mask, passes)).as_py() or 0)
        mask = pc.and_(mask, passes)
    kept = _drop_unscrapable(table.filter(mask).select(["tconst", "primaryTitle", "startYear", "genres"]), report, path)
    report.kept += kept.num_rows
    return kept


def _drop_bad_numbers(table: pa.Table, report: BasicsReport, path: Path) -> pa.Table:
    """Rows whose numeric fields are not numbers are malformed: report each once, by id, and drop it."""
    bad = pa.array([False] * table.num_rows, pa.bool_())
    for column in NUMERIC_COLUMNS:
        values = table[column]
        wrong = pc.and_not(pc.fill_null(pc.invert(_is_number(values)), False), bad)
        if pc.any(wrong).as_py():
            for imdb_id, value in zip(table["tconst"].filter(wrong).to_pylist(), values.filter(wrong).to_pylist()):
                report.add_malformed(DataError(path, f"title {imdb_id}: '{value}' is not a number; row skipped",
                                               field=column))
            bad = pc.or_(bad, wrong)
    return table.filter(pc.invert(bad)) if pc.any(bad).as_py() else table


def _is_number(values: pa.ChunkedArray) -> pa.ChunkedArray:
    # Nine digits at most: the longest real value is a runtime of a few thousand minutes, and Arrow's cast to int64
    # fails on more than 18.
    return pc.match_substring_regex(values, "^[0-9]{1,9}$")  # ASCII: Arrow's cast takes no '²' or '٢'


def _drop_unscrapable(kept: pa.Table, report: BasicsReport, path: Path) -> pa.Table:
    """Kept rows ``scrape`` would refuse are malformed: no IMDb id (empty, \\N, not tt + 7 or more digits), a title or
    genres no real movie has (the limits ``data inspect`` applies), or a startYear outside the table's YEARS (0 reads
    as unknown). Checked after the filters, on the few rows they keep, a column at a time."""
    ids, titles, genres = (pc.fill_null(kept[c], null) for c, null in
                           (("tconst", "\\N"), ("primaryTitle", "\\N"), ("genres", "")))
    year = pc.cast(kept["startYear"], pa.int64())
    bad_id = pc.invert(pc.match_substring_regex(ids, f"^{IMDB_ID.pattern}$"))
    absurd = pc.or_(pc.greater(pc.utf8_length(titles), MAX_TITLE_CHARS),
                    pc.or_(pc.match_substring_regex(genres, f"([^,]*,){{{MAX_GENRES}}}"),
                           pc.match_substring_regex(genres, f"[^,]{{{MAX_GENRE_CHARS + 1}}}")))
    bad_year = pc.fill_null(pc.and_(pc.not_equal(year, 0),
                                    pc.or_(pc.less(year, YEARS[0]), pc.greater(year, YEARS[1]))), False)
    bad = pc.or_(pc.or_(bad_id, absurd), bad_year)
    if not pc.any(bad).as_py():
        return kept
    for row in zip(*(column.filter(bad).to_pylist() for column in (ids, titles, genres, year, bad_id))):
        field, problem = _unscrapable(*row)
        report.add_malformed(DataError(path, f"{problem}; row skipped", field=field))
    return kept.filter(pc.invert(bad))


def _unscrapable(imdb_id: str, title: str, genres: str, year: int | None, no_id: bool) -> tuple[str, str]:
    """The field and the problem that make a kept row one ``scrape`` refuses (the first, where there are several)."""
    if no_id:
        return "tconst", f"title '{title[:80]}': '{imdb_id}' is not an IMDb id (tt + 7 or more digits)"
    absurd = absurd_fields(title, genres.split(",") if genres else [], "")
    if absurd:
        field, problem = absurd[0]
        return field, f"title {imdb_id}: {problem}"
    return "startYear", f"title {imdb_id}: year {year} is not a year between {YEARS[0]} and {YEARS[1]}"


def _first_of_each_id(movies: MovieTable, report: BasicsReport) -> MovieTable:
    """An id listed again is malformed: ``scrape`` refuses a table that names a title twice, so the first kept row
    wins. Only kept rows are compared (one vectorised pass at the end): remembering every id of ~12M rows would
    cost more memory than all the rows kept."""
    repeated = movies.frame["imdb_id"].duplicated().to_numpy()
    if not repeated.any():
        return movies
    for imdb_id in movies.frame["imdb_id"][repeated]:
        report.add_malformed(DataError(movies.source, f"title {imdb_id}: listed again; row skipped, the first kept",
                                       field="tconst"))
    report.kept -= int(repeated.sum())
    return movies.subset(~repeated)


def _to_movie_table(tables: list[pa.Table], path: Path) -> MovieTable:
    # Built column-wise rather than with MovieTable.from_records: a dict per row for ~700k movies would
    # cost several hundred MB for nothing.
    schema = pa.schema([(c, pa.string()) for c in ("tconst", "primaryTitle", "startYear", "genres")])
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    genres = table["genres"].to_pylist()
    frame = pd.DataFrame({
        "imdb_id": table["tconst"].to_pandas(),
        "title": pc.fill_null(table["primaryTitle"], "").to_pandas(),
        "year": pc.cast(table["startYear"], pa.int64()).to_pandas(),
        "genres": [g.split(",") if g else [] for g in genres],
        "description": "",
        "poster": "",
    })
    return MovieTable(frame, str(path))
