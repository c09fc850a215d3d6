"""The movie table: the one representation of a (labelled or unlabelled) dataset.

Every reader produces a :class:`MovieTable`; every model, split and report consumes one. Rows hold
``imdb_id``, ``title``, ``year``, ``genres`` (list of names), ``description`` ("" when unknown) and
``poster`` (absolute path, "" when none; or the image file's bytes in a table built in memory for one
prediction). An optional ``split`` column carries a split that came with the data (MM-IMDb ``split.json``)
so that it can be used as is.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from moviegenre.data.images import is_url, load_image
from moviegenre.errors import ConfigError, DataError, ImageError, stripped

COLUMNS = ("imdb_id", "title", "year", "genres", "description", "poster")
GENRE_SEPARATOR = "|"
SPLITS = ("train", "validation", "test")
YEARS = (1850, 2200)  # wider than cinema's, to refuse only what cannot be a year (-1, a twenty-digit number)
RECORD_KEYS = (*COLUMNS, "split")  # what MovieTable.from_records reads
USES = ("any", "poster", "description", "both")  # the inputs a table may be cut down to (with_inputs)
IGNORED_KEYS = frozenset({"stem"})  # read_mmimdb keeps each JSON file's stem in its record, for split.json
# Far above any real movie (IMDb titles stay under 250 characters, plots under a few thousand, a movie has
# at most a handful of genres); beyond them a row is a scraping accident, flagged by validate().
MAX_TITLE_CHARS = 500
MAX_DESCRIPTION_CHARS = 100_000
MAX_GENRES = 30
MAX_GENRE_CHARS = 50
# What sources write where a movie has no plot: IMDb's "Add a Plot »" link, OMDb's "N/A", TMDB's "Overview Coming
# Soon..." and "No overview found.", pandas' "nan". Not descriptions: read as text, one string stood for hundreds of
# unrelated movies (359 of movies.csv's 9,411 descriptions), and a model given nothing else named Drama for them.
NO_DESCRIPTION = frozenset({"add a plot", "add a plot »", "n/a", "nan", "none", "null", "overview coming soon...",
                            "overview coming soon…", "no overview found."})


def clean_description(text: object) -> str:
    """A description stripped; "" where there is none, or only a source's placeholder for a missing plot."""
    text = stripped(str(text or ""))
    # A page copied without decoding its HTML keeps the link's arrow as "&raquo;" (or "&#187;"), its space as "&nbsp;".
    return "" if " ".join(html.unescape(text).split()).casefold() in NO_DESCRIPTION else text


@dataclass
class MovieTable:
    """A validated table of movies. ``source`` names where it came from, for error messages."""

    frame: pd.DataFrame
    source: str = "<memory>"
    problems: list[DataError] = field(default_factory=list)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: Iterable[dict], source: str = "<memory>") -> MovieTable:
        """A table from one dict per movie, keyed by ``COLUMNS`` (and ``split``); a missing key, None or a pandas
        missing value (NaN, NA, NaT: what ``pd.read_csv(...).to_dict("records")`` gives) is an empty field. A value
        that cannot be read is a one-line error naming its row (1-based) and field."""
        rows = []
        for row, record in enumerate(records, start=1):
            if not isinstance(record, Mapping):
                raise DataError(source, f"type {type(record).__name__} is not a record", row=row,
                                hint="give one dict per movie")
            if unknown := [key for key in record if key not in RECORD_KEYS and key not in IGNORED_KEYS]:
                # A misspelt key ('descripton') would otherwise drop its value without a word.
                raise DataError(source, f"unknown field '{unknown[0]}'", row=row, field=str(unknown[0]),
                                hint=f"known fields: {', '.join(RECORD_KEYS)}")
            text = {name: text_value(source, row, name, record.get(name))
                    for name in ("imdb_id", "title", "description")}
            rows.append({
                **text, "description": clean_description(text["description"]),
                "year": _year(source, row, record.get("year")),
                "genres": _genres(source, row, record.get("genres")),
                "poster": _poster(record.get("poster")),
                **({"split": text_value(source, row, "split", record["split"])} if "split" in record else {}),
            })
        has_split = any("split" in row for row in rows)
        frame = pd.DataFrame(rows, columns=[*COLUMNS, *(["split"] if has_split else [])])
        if has_split:
            frame["split"] = frame["split"].fillna("")
        return cls(frame.reset_index(drop=True), source)

    # -- views ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> list[str]:
        return self.frame["imdb_id"].tolist()

    @property
    def genres(self) -> list[list[str]]:
        return self.frame["genres"].tolist()

    @property
    def descriptions(self) -> list[str]:
        return self.frame["description"].tolist()

    @property
    def titles(self) -> list[str]:
        return self.frame["title"].tolist()

    @property
    def has_title(self) -> np.ndarray:
        return (self.frame["title"] != "").to_numpy()

    @property
    def posters(self) -> list[str]:
        return self.frame["poster"].tolist()

    @property
    def has_poster(self) -> np.ndarray:
        return (self.frame["poster"] != "").to_numpy()

    @property
    def has_description(self) -> np.ndarray:
        return (self.frame["description"] != "").to_numpy()

    @property
    def is_labelled(self) -> bool:
        return len(self) > 0 and bool(self.frame["genres"].map(len).gt(0).any())

    @property
    def split(self) -> np.ndarray | None:
        """The split that came with the data ("train"/"validation"/"test" per row), or None."""
        return self.frame["split"].to_numpy() if "split" in self.frame else None

    def subset(self, rows: np.ndarray | Sequence[int] | Sequence[bool]) -> MovieTable:
        """Rows by boolean mask or positions, as a new table with the same source."""
        rows = np.asarray(rows)
        picked = self.frame[rows] if rows.dtype == bool else self.frame.iloc[rows]
        return MovieTable(picked.reset_index(drop=True), self.source)

    def concat(self, other: MovieTable) -> MovieTable:
        """This table's rows followed by ``other``'s."""
        return MovieTable(pd.concat([self.frame, other.frame], ignore_index=True), self.source)

    def with_inputs(self, use: str) -> MovieTable:
        """Keep only the inputs ``use`` names: poster, description, both (never the title) or any (all each row
        has, its title included)."""
        if use not in USES:
            raise DataError("--use", f"unknown value '{use}'", hint=f"use one of {', '.join(USES)}")
        if use == "any":
            return self
        if use == "poster":
            table = self.subset(self.has_poster)
            table.frame["description"] = ""
        elif use == "description":
            table = self.subset(self.has_description)
            table.frame["poster"] = ""
        else:
            table = self.subset(self.has_poster & self.has_description)
        table.frame["title"] = ""
        return table

    # -- validation -----------------------------------------------------------------------------
    def validate(self, *, labelled: bool = True, check_files: bool = True, images: bool = False) -> list[DataError]:
        """Every problem found, in row order, each naming the file, the row (1-based data row) and the field.

        ``images`` also decodes every poster with the safe loader, as training will (slow on a big table).
        """
        problems: list[DataError] = []
        frame = self.frame
        ids = frame["imdb_id"]
        for row in np.flatnonzero((ids == "").to_numpy()):
            problems.append(DataError(self.source, "empty id", row=row + 1, field="imdb_id",
                                      hint="every movie needs a unique id"))
        problems += [duplicate_id(self.source, imdb_id, row + 1, first + 1) for row, imdb_id, first in _repeated_ids(ids)]
        if labelled:
            for row in np.flatnonzero(frame["genres"].map(len).eq(0).to_numpy()):
                problems.append(DataError(self.source, "no genres in a labelled table", row=row + 1,
                                          field="genres", hint="give at least one genre, '|'-separated"))
        for row, (title, genres, description) in enumerate(zip(frame["title"], frame["genres"], frame["description"])):
            absurd = absurd_fields(title, genres, description)
            problems.extend(DataError(self.source, problem, row=row + 1, field=name,
                                      hint="fix or drop the row (a scraping accident?)") for name, problem in absurd)
        if check_files:
            for row, poster in enumerate(frame["poster"]):
                if poster and (problem := self._poster_problem(row + 1, poster, images)):
                    problems.append(problem)
        return sorted(problems, key=lambda problem: problem.row)  # stable: a row's problems keep their order

    def _poster_problem(self, row: int, poster: str, images: bool) -> DataError | None:
        """Why ``row``'s poster cannot be used, or None. A path that names no regular file (a folder, a pipe, a device,
        a symlink loop) is worded as the image loader words it; ``images`` also decodes a regular file."""
        if is_url(poster):  # kept as given by the reader, not joined to the table's folder
            return DataError(self.source, f"poster '{poster[:200]}' is a URL, not a file", row=row, field="poster",
                             hint="download the posters first ('moviegenre scrape' fetches them) and give their paths")
        if not os.path.lexists(poster):  # not exists(): a broken link or a symlink loop is there, for the loader to name
            return DataError(self.source, f"poster file '{poster}' does not exist", row=row, field="poster",
                             hint="fix the path or leave the field empty")
        error = image_error(poster) if images or not os.path.isfile(poster) else None
        return None if error is None else poster_error(self.source, row, error)

    def unusable(self, *, labelled: bool = True) -> DataError | None:
        """Why no movie of the table can be learnt from (``labelled=False``: predicted for), or None."""
        inputs = self.has_poster | self.has_description
        genres = self.frame["genres"].map(len).gt(0).to_numpy()
        if not len(self):
            problem, hint = "the table has no movies", "add rows below the header"
        elif not inputs.any():
            problem, hint = "no movie has a poster or a description", \
                "fill the poster or description column; a table from 'imdb basics' needs 'moviegenre scrape' first"
        elif labelled and not genres.any():
            problem, hint = "no movie has genres", "fill the genres column, '|'-separated"
        elif labelled and not (inputs & genres).any():
            problem, hint = "no movie has both genres and a poster or a description", \
                "a movie teaches the model only with both"
        else:
            return None
        return DataError(self.source, problem, hint=hint)

    def check(self, *, labelled: bool = True, check_files: bool = True) -> MovieTable:
        """Raise the first problem (with a count of the rest); return self when there is none."""
        raise_first(self.validate(labelled=labelled, check_files=check_files))
        return self

    # -- saving ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the shared CSV format (``|``-joined genres, poster paths relative to the CSV), atomically."""
        path = Path(os.path.realpath(path))  # not Path.resolve: a RuntimeError on a symlink loop
        out = self.frame.copy()
        out["genres"] = out["genres"].map(GENRE_SEPARATOR.join)
        out["year"] = out["year"].map(lambda y: "" if y is None or pd.isna(y) else str(int(y)))
        out["poster"] = out["poster"].map(lambda p: _relative(p, path.parent) if p else "")
        atomic_write_text(path, out.to_csv(index=False, lineterminator="\n"))
        return path


def absurd_fields(title: str, genres: list[str], description: str) -> list[tuple[str, str]]:
    """(field, problem) for values no real movie has: oversized fields, too many or oversized genres.

    A genre named twice is not one of them: harmless, and found in real data."""
    found = []
    if len(title) > MAX_TITLE_CHARS:
        found.append(("title", f"{len(title):,} characters, over the {MAX_TITLE_CHARS:,} limit"))
    if len(description) > MAX_DESCRIPTION_CHARS:
        found.append(("description", f"{len(description):,} characters, over the {MAX_DESCRIPTION_CHARS:,} limit"))
    if len(genres) > MAX_GENRES:
        found.append(("genres", f"{len(genres):,} genres, over the {MAX_GENRES} limit"))
    if any(len(genre) > MAX_GENRE_CHARS for genre in genres):
        found.append(("genres", f"a genre name over {MAX_GENRE_CHARS} characters"))
    return found


# What a prediction can do without: a year or split that does not parse is read as unknown, a poster that cannot be
# used as no poster (as one that does not decode already is). A problem of any other field (an id missing or given
# twice, a scraping accident) means a table that is not what it claims, and refuses it.
READ_AROUND = ("year", "split", "poster")


def read_around(table: MovieTable, problems: Sequence[DataError]) -> tuple[MovieTable, list[DataError]]:
    """``table`` to predict, its posters named in ``problems`` (its reader's and its ``validate``'s) left out, and
    the problems so read around; the first of the others raises. One bad row among a catalogue's thousands must not
    stop the catalogue."""
    raise_first([problem for problem in problems if problem.row is None or problem.field not in READ_AROUND])
    around = sorted(problems, key=lambda problem: problem.row)  # stable: a row's problems keep their order
    rows = [problem.row - 1 for problem in around if problem.field == "poster"]
    if rows:
        frame = table.frame.copy()
        frame.iloc[rows, frame.columns.get_loc("poster")] = ""
        table = MovieTable(frame, table.source)
    return table, around


def raise_first(problems: Sequence[DataError]) -> None:
    """Raise the first of ``problems``, with a count of the rest, if there are any."""
    if problems:
        first, rest = problems[0], len(problems) - 1
        more = f"; {plural(rest, 'more problem')}: 'moviegenre data inspect' lists {'it' if rest == 1 else 'them'}" \
            if rest else ""
        raise DataError(first.source, first.problem, row=first.row, field=first.field,
                        hint=(first.hint + more).lstrip("; "))


def plural(count: int, noun: str) -> str:
    """``1 movie``, ``2 movies``, ``1,204 problems``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def image_error(poster: str) -> ImageError | None:
    """Why the poster file is not a usable image (the safe loader's error), or None: it decodes."""
    try:
        load_image(poster)
    except ImageError as error:
        return error
    return None


@contextmanager
def poster_rows(table: MovieTable) -> Iterator[None]:
    """An ImageError met inside (a poster that exists but does not decode, found as training embeds it) as the
    table's row and field, worded as ``validate(images=True)`` words it: the loader knows only the file."""
    try:
        yield
    except ImageError as error:
        rows = [row for row, poster in enumerate(table.posters) if poster == str(error.source)]
        if not rows:
            raise
        raise poster_error(table.source, rows[0] + 1, error,
                           also="'moviegenre data inspect --images' lists every such poster") from None


def poster_error(source: object, row: int, error: ImageError, also: str = "") -> DataError:
    """The image loader's ``error`` (which names only the file) as a problem of the table's ``row``; ``also``: more
    to do, after the loader's hint."""
    return DataError(source, f"poster file '{error.source}': {error.problem}", row=row, field="poster",
                     hint="; ".join(filter(None, (error.hint, also))))


def duplicate_id(source: object, movie: str, row: int, first: int) -> DataError:
    """``movie``'s id given again in ``row`` (1-based), first in ``first``."""
    return DataError(source, f"duplicate id '{movie}' (first seen in row {first})", row=row, field="imdb_id",
                     hint="remove or merge the duplicate row")


def _repeated_ids(ids: pd.Series) -> Iterator[tuple[int, str, int]]:
    """(row, id, row it was first seen in), 0-based, for every non-empty id seen before; in one pass: searching the
    column again for each repeat took 43 s on 80,000 rows of one id."""
    values = ids.to_numpy()
    repeated = ids.duplicated(keep="first").to_numpy() & (values != "")
    if not repeated.any():
        return
    first_seen = ids.reset_index(drop=True).drop_duplicates()
    first_row = dict(zip(first_seen.to_numpy(), first_seen.index))
    for row in np.flatnonzero(repeated):
        yield int(row), values[row], first_row[values[row]]


def split_genres(text: str) -> list[str]:
    return genre_names(text.split(GENRE_SEPARATOR))


def genre_names(names: Iterable[str]) -> list[str]:
    """Names stripped, blanks dropped, each once in first-seen order: 'Drama|Drama| Comedy ' is Drama and Comedy (a
    repeated name counted twice in a movie's genres, once in the genre's)."""
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))


def _missing(value: object) -> bool:
    """None, or a pandas missing value (NaN, NA, NaT): not the text 'nan', nor a truth value (pd.NA has none)."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def text_value(source: object, row: int, field: str, value: object,
               hint: str = "give it as text, or as bytes in UTF-8") -> str:
    """A text field (a record's, a Parquet value): "" when missing, bytes decoded as UTF-8 (not "b'...'"), 0 kept as
    '0'. Bytes that are not UTF-8 are a DataError naming ``row`` and ``field``; ``hint``: how to fix them there."""
    if _missing(value):
        return ""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(source, f"not UTF-8 text (byte {value[error.start]:#04x})", row=row, field=field,
                            hint=hint) from None
    return str(value)


def parse_year(path: str | Path, row: int, value: str) -> int | None:
    """A year as written, "" or ``\\N`` for unknown; ``2001.0`` is read (a spreadsheet's float column), and so is 0,
    which some datasets write for unknown."""
    value = value.strip()
    if not value or value == "\\N":
        return None
    hint = "use a 4-digit year or leave it empty"
    try:
        number = float(value)
    except ValueError:  # 'abc'
        number = math.nan
    if not math.isfinite(number):
        raise DataError(path, f"year '{value}' is not a number", row=row, field="year", hint=hint)
    if number == 0:
        return None
    if not number.is_integer() or not YEARS[0] <= number <= YEARS[1]:
        raise DataError(path, f"year '{value}' is not a year between {YEARS[0]} and {YEARS[1]}", row=row,
                        field="year", hint=hint)
    return int(number)


def _year(source: str, row: int, value: object) -> int | None:
    """A record's year, read as a CSV's is ('', '\\N' and 0 unknown; others a DataError naming row and field)."""
    return None if _missing(value) else parse_year(source, row, text_value(source, row, "year", value))


def _genres(source: str, row: int, value: object) -> list[str]:
    """'|'-separated text or a list of names; anything else (5, [None, 3]) is a DataError naming row and field."""
    if _missing(value) or isinstance(value, (str, bytes, bytearray)):
        return split_genres(text_value(source, row, "genres", value))
    listed = isinstance(value, (list, tuple, np.ndarray))  # np.ndarray: a Parquet list column's records
    wrong = [genre for genre in value if not isinstance(genre, str)] if listed else [value]
    if not wrong:
        return genre_names(value)
    raise DataError(source, f"{'genre ' if listed else ''}{repr(wrong[0])[:60]} is not text", row=row, field="genres",
                    hint="give '|'-separated text or a list of strings")


def _poster(value: object) -> str | bytes:
    """A path as text, or the image's bytes (a table built in memory for a prediction); "" when missing."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or ""  # b"" is no poster: has_poster tests poster != ""
    return "" if _missing(value) else str(value)


def _relative(poster: str, folder: Path) -> str:
    try:
        return Path(os.path.realpath(poster)).relative_to(folder).as_posix()
    except ValueError:
        return os.path.relpath(poster, folder)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it: readers never see half a file."""
    atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def publish_folder(target: Path, build: Callable[[Path], Path]) -> None:
    """Make the folder ``target`` whole or not at all: ``build`` fills a scratch folder beside it and returns the
    folder to rename into place (the scratch folder, or one inside it). An interrupted build leaves nothing under
    ``target``'s name; where another process published first, its folder is kept (as good as this one)."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
    try:
        made = build(scratch)
        try:
            made.rename(target)
        except OSError:  # published first by another process
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def atomic_write_file(path: str | Path, write: Callable[[Path], object]) -> None:
    """``write`` the file at the path it is given (a temporary file beside ``path``), then rename it to ``path``:
    readers never see half a file, and one killed mid-write leaves no temporary file behind. For writers that
    stream to a path (Parquet, a CSV written a part at a time) rather than hand over bytes."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _unwritable(path, error) from None
    try:
        try:
            write(Path(tmp))
            os.fsync(fd)  # the same file, whichever handle ``write`` opened on it
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _unwritable(path, error) from None
        raise


def check_out_folder(out: Path, option: str = "--out") -> None:
    """``option`` names a folder that exists or can be made (not a file, nor a path under one), checked before any
    work: the writes would otherwise fail only at the end."""
    existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    if not existing.is_dir():
        raise ConfigError(f"{option} {out}: {'is' if existing == out else f'{existing} is'} a file; give a folder")


def check_not_input(inputs: Iterable[str | Path], outputs: Iterable[str | Path], option: str = "--out") -> None:
    """A ConfigError, before any work, when a file the command would write is one it reads: a slip of ``--out``
    would replace the input (a catalogue, IMDb's file, the list of titles to scrape) with the output."""
    for output in outputs:
        for source in inputs:
            if _same_file(output, source):
                raise ConfigError(f"{option}: writing {output} would overwrite the input {source}; give another path")


def _same_file(a: str | Path, b: str | Path) -> bool:
    """The same file by any name (a symlink, a hard link, ``./x``); False when either is missing: a file that does
    not exist yet is nothing to overwrite, and one that cannot be read is named by the read itself."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False


def _unwritable(path: Path, error: OSError) -> DataError:
    above = next((folder for folder in path.parents if folder.exists()), None)
    why = ": this one is a folder" if path.is_dir() else \
        f": {above} is a file, not a folder" if above is not None and not above.is_dir() else ""
    return DataError(path, f"cannot write it ({error.strerror or error})", hint="choose another output path" + why)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread exists
    os.umask(mask)
    return mask


_UMASK = _read_umask()
