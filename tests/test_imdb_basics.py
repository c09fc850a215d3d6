"""``moviegenre imdb basics``: exact counts on the real title.basics samples, and the awkward rows of the real file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from conftest import run_moviegenre as moviegenre
from moviegenre.acquisition import imdb_basics
from moviegenre.acquisition.imdb_basics import BasicsFilter, parse_types, parse_years, read_basics
from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError, DataError

HEADER = "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres\n"
NOLAN_2000S = [("tt0209144", "Memento", 2000), ("tt0278504", "Insomnia", 2002), ("tt0372784", "Batman Begins", 2005),
               ("tt0482571", "The Prestige", 2006), ("tt0468569", "The Dark Knight", 2008),
               ("tt1375666", "Inception", 2010)]




@pytest.fixture
def basics_dir(shared_data: Path) -> Path:
    return shared_data / "fixtures" / "title_basics"


def test_head2000_keeps_the_112_movies(basics_dir):
    table, report = read_basics(basics_dir / "title.basics.head2000.tsv")
    assert (len(table), report.rows, report.kept, report.malformed) == (112, 1999, 112, 0)
    assert report.dropped == {"titleType": 1887, "isAdult": 0}
    assert table.ids[:2] == ["tt0000009", "tt0000147"]
    assert table.frame["title"].iloc[0] == "Miss Jerry" and table.genres[1] == ["Documentary", "News", "Sport"]
    assert table.frame["year"].min() == 1894 and table.frame["year"].max() == 1915
    assert sum(not genres for genres in table.genres) == 64  # '\N' genres: kept, the page will tell


@pytest.mark.parametrize(("name", "all_years", "in_2000s"), [
    ("title.basics.head2000.tsv", 112, 0), ("title.basics.nolan15.tsv", 14, 6), ("title.basics.mixed15.tsv", 11, 0),
])
def test_movie_counts_of_every_sample(basics_dir, name, all_years, in_2000s):
    assert len(read_basics(basics_dir / name)[0]) == all_years
    assert len(read_basics(basics_dir / name, BasicsFilter(years=(2000, 2010)))[0]) == in_2000s


@pytest.mark.parametrize(("keep", "expected"), [
    (BasicsFilter(min_runtime=60), 8),
    (BasicsFilter(years=(1910, 1911)), 68),
    (BasicsFilter(years=(2000, 2010)), 0),
    (BasicsFilter(types=("movie", "short"), exclude_genres=("Short",)), 154),  # 64 of them have no genres
])
def test_head2000_filters(basics_dir, keep, expected):
    table, report = read_basics(basics_dir / "title.basics.head2000.tsv", keep)
    assert len(table) == report.kept == expected
    assert report.kept + sum(report.dropped.values()) == report.rows == 1999


def test_nolan_2000s_through_the_cli(basics_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "movies.csv"
    code, stdout, err = moviegenre(monkeypatch, capsys, "imdb", "basics", basics_dir / "title.basics.nolan15.tsv",
                                   "--out", out, "--years", "2000-2010")
    assert (code, err) == (0, "")
    assert "15 rows read: 6 kept, dropped by filter: titleType 1, years 8, 0 malformed" in stdout
    table = read_table(out)
    assert [(i, t, y) for i, t, y in zip(table.ids, table.frame["title"], table.frame["year"])] == NOLAN_2000S
    assert out.read_text().splitlines()[1] == "tt0209144,Memento,2000,Mystery|Thriller,,"


def test_mixed15_counts_and_gzip_gives_the_same_table(basics_dir, tmp_path):
    plain, report = read_basics(basics_dir / "title.basics.mixed15.tsv")
    assert (len(plain), report.dropped["titleType"]) == (11, 4)
    packed = tmp_path / "title.basics.tsv.gz"
    packed.write_bytes(gzip.compress((basics_dir / "title.basics.mixed15.tsv").read_bytes()))
    assert read_basics(packed)[0].frame.equals(plain.frame)
    assert len(read_basics(basics_dir / "title.basics.mixed15.tsv", BasicsFilter(min_runtime=60))[0]) == 9


def test_small_blocks_give_the_same_table_and_report_progress(basics_dir, monkeypatch):
    whole, _ = read_basics(basics_dir / "title.basics.head2000.tsv")
    monkeypatch.setattr(imdb_basics, "BLOCK_SIZE", 8192)
    seen = []
    blocks, report = read_basics(basics_dir / "title.basics.head2000.tsv", progress=lambda d, t: seen.append((d, t)))
    assert blocks.frame.equals(whole.frame) and report.rows == 1999
    assert len(seen) > 10 and seen[-1][0] == seen[-1][1]


# -- synthetic: the real file's awkward rows ---------------------------------------------------------------------

def tsv(tmp_path: Path, *rows: str, name: str = "title.basics.tsv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


AWKWARD = (
    'tt0000001\tmovie\tThe "Quoted" Title\tx\t0\t2001\t\\N\t90\tDrama,Comedy',  # literal quotes, no quoting
    'tt0000002\tmovie\t"Starts with a quote\tx\t0\t2002\t\\N\t\\N\t\\N',  # \N runtime and genres
    "tt0000003\tmovie\tToo few fields\t0\t2003",
    "tt0000004\tmovie\tToo many\tx\t0\t2004\t\\N\t90\tDrama\textra",
    "tt0000005\tmovie\tBad year\tx\t0\t20O5\t\\N\t9O\tDrama",  # a bad year (the runtime: unknown) is malformed
    "tt0000006\tmovie\tAdult\tx\t1\t2006\t\\N\t90\tAdult",
    "tt0000007\tshort\tA short\tx\t0\t2007\t\\N\t9\tShort",
    "tt0000008\tmovie\tShort-genre movie\tx\t0\t2008\t\\N\t45\tComedy,Short",
    "tt0000009\tmovie\t\\N\tx\t\\N\t\\N\t\\N\t120\tHorror",
)


def test_quotes_nulls_and_malformed_rows_are_handled_and_reported(tmp_path):
    table, report = read_basics(tsv(tmp_path, *AWKWARD))
    assert table.ids == ["tt0000001", "tt0000002", "tt0000008", "tt0000009"]
    assert table.frame["title"].tolist() == ['The "Quoted" Title', '"Starts with a quote', "Short-genre movie", ""]
    assert table.genres == [["Drama", "Comedy"], [], ["Comedy", "Short"], ["Horror"]]
    assert table.frame["year"].isna().tolist() == [False, False, False, True]
    assert (report.rows, report.malformed, report.kept) == (9, 3, 4)
    assert report.dropped == {"titleType": 1, "isAdult": 1}
    assert report.kept + sum(report.dropped.values()) + report.malformed == report.rows
    messages = [str(problem) for problem in report.examples]
    assert messages[0].endswith("row 3: 5 tab-separated fields instead of 9; row skipped")
    assert messages[1].endswith("row 4: 10 tab-separated fields instead of 9; row skipped")
    assert "field 'startYear': title tt0000005: '20O5' is not a number; row skipped" in messages[2]


def test_a_block_whose_every_row_is_malformed_keeps_nothing_and_reports_them(tmp_path):
    # The block is empty once its one row is dropped: its filter mask, built from an empty list, was inferred as
    # pyarrow's null type, and the next step failed with ArrowNotImplementedError.
    table, report = read_basics(tsv(tmp_path, AWKWARD[4]))
    assert (len(table), report.rows, report.malformed, report.kept) == (0, 1, 1, 0)


def test_adult_genre_runtime_and_year_filters(tmp_path):
    path = tsv(tmp_path, *AWKWARD)
    assert "tt0000006" in read_basics(path, BasicsFilter(include_adult=True))[0].ids
    assert read_basics(path, BasicsFilter(exclude_genres=("Short",)))[0].ids == ["tt0000001", "tt0000002", "tt0000009"]
    assert read_basics(path, BasicsFilter(min_runtime=60))[0].ids == ["tt0000001", "tt0000009"]
    assert read_basics(path, BasicsFilter(years=(2002, 2008)))[0].ids == ["tt0000002", "tt0000008"]


def test_option_parsing():
    assert parse_years("2000-2010") == (2000, 2010) and parse_years("2005") == (2005, 2005)
    assert parse_years("") is None
    assert parse_types("movie, tvMovie") == ("movie", "tvMovie")
    for bad in ("20x0", "2010-2000", "2000-"):
        with pytest.raises(DataError, match="--years"):
            parse_years(bad)
    with pytest.raises(DataError, match="unknown title type 'movies'"):
        parse_types("movies")


def test_years_and_runtimes_arrow_cannot_compare_are_refused_from_python_too():
    with pytest.raises(ConfigError, match=r"^--years 0-100000000000000000000: give each year as a whole number in "
                                          r"\[0, 9999\]$"):
        BasicsFilter(years=(0, 10**20))
    with pytest.raises(ConfigError, match=r"^--min-runtime 100001: give a whole number in \[0, 100000\]$"):
        BasicsFilter(min_runtime=100_001)


def test_a_start_year_no_reader_takes_is_a_malformed_row(tmp_path):
    # Such a year was written as is, and 'scrape' (every reader) refused the whole table at its row.
    rows = [f"tt000000{n}\tmovie\tT{n}\tx\t0\t{year}\t\\N\t90\tDrama"
            for n, year in enumerate(("1849", "1850", "2200", "2201", "999999999", "0", "\\N"), start=1)]
    table, report = read_basics(tsv(tmp_path, *rows))
    assert table.ids == ["tt0000002", "tt0000003", "tt0000006", "tt0000007"]  # 0 and \N: an unknown year
    assert (report.rows, report.kept, report.malformed) == (7, 4, 3)
    assert [str(problem) for problem in report.examples] == [
        f"{tmp_path / 'title.basics.tsv'}: field 'startYear': title {imdb_id}: year {year} is not a year between "
        "1850 and 2200; row skipped" for imdb_id, year in (("tt0000001", 1849), ("tt0000004", 2201),
                                                          ("tt0000005", 999999999))]
    out = tmp_path / "movies.csv"
    table.save(out)
    assert read_table(out, labelled=False).ids == table.ids


@pytest.mark.parametrize(("content", "args", "message"), [
    (None, (), "no such file"),
    ("imdb_id,title,genres\ntt1,A,Drama\n", (), "missing column(s) tconst"),
    ("a\tb\tc\n1\t2\t3\n", (), f"missing column(s) {', '.join(imdb_basics.COLUMNS)} (found: a, b, c)"),
    (HEADER.replace("\tgenres", "\tgenres\tgenres"), (), "column(s) genres listed twice in the header"),
    (HEADER.rstrip("\n"), (), "not a title.basics TSV: no line break after the header (in 2 MiB)"),
    ("", (), "not a title.basics TSV: the file is empty"),
    (HEADER, ("--years", "1990-1980"), "--years: range '1990-1980' ends before it starts"),
    (HEADER, ("--types", "film"), "--types: unknown title type 'film'"),
    # Past 2**63 Arrow could not compare them with a column: a TypeError traceback.
    (HEADER, ("--min-runtime", str(2**64)), f"--min-runtime {2**64}: give a whole number in [0, 100000]"),
    (HEADER, ("--min-runtime", "-5"), "--min-runtime -5: give a whole number in [0, 100000]"),
    (HEADER, ("--years", "99999999999999999999"), "--years: '99999999999999999999' is not a year range"),
])
def test_bad_input_is_one_line_error(tmp_path, monkeypatch, capsys, content, args, message):
    path = tmp_path / "title.basics.tsv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = moviegenre(monkeypatch, capsys, "imdb", "basics", path, "--out", tmp_path / "out.csv", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in err and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("content", [
    "a\tb\tc\n1\t2\t3\n",  # tab-separated, other columns
    "imdb_id,title,genres\ntt1,A,Drama\n",  # comma-separated: one column named with the whole line
    HEADER.replace("\tgenres", "") + AWKWARD[0].rsplit("\t", 1)[0] + "\n",  # one column short
    HEADER.replace("\tgenres", "\tgenres\tgenres"),
    HEADER.rstrip("\n"),  # Arrow cannot skip a header that does not end
    "",
], ids=["other columns", "comma-separated", "a column short", "a column twice", "no line break", "empty"])
def test_a_wrong_header_is_refused_before_arrow_opens_its_reader(tmp_path, monkeypatch, content):
    # Raising while Arrow's streaming reader is open can abort the process ("terminate called without an active
    # exception", exit 134) as its read-ahead thread dies: rarely (3 runs in 56), so a run that passes proves
    # nothing, and the reader is checked not to be opened at all.
    def open_csv(*args, **kwargs):
        raise AssertionError("Arrow's streaming reader was opened")

    monkeypatch.setattr(imdb_basics.pacsv, "open_csv", open_csv)
    path = tmp_path / "title.basics.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="missing column|listed twice|not a title.basics TSV"):
        read_basics(path)


@pytest.mark.parametrize("header", [
    HEADER.replace("\n", "\r\n"), "\ufeff" + HEADER, "\n\r\n\r" + HEADER, "\ufeff\n" + HEADER,
    HEADER.replace("\n", "\textra\textra\n"),
], ids=["crlf", "byte-order mark", "blank lines first", "byte-order mark and a blank line", "extra columns"])
def test_the_header_is_found_where_arrow_finds_it(tmp_path, header):
    # Arrow is given the names read here: line breaks, a byte-order mark, blank lines first or extra columns must
    # not shift them, or make the header a row.
    row = AWKWARD[0] + ("\tx\tx" if "extra" in header else "")
    path = tmp_path / "title.basics.tsv"
    path.write_text(header + row + "\n" + AWKWARD[3] + "\n", encoding="utf-8", newline="")
    table, report = read_basics(path)
    assert (table.ids, report.rows, report.malformed) == (["tt0000001"], 2, 1)
    assert table.frame["title"].tolist() == ['The "Quoted" Title']


def test_blank_lines_before_the_header_do_not_shift_the_rows_reported(tmp_path, monkeypatch, capsys):
    # Arrow's row numbers count the lines it skips, the blank ones before the header too: each shifted every row
    # reported by one. Rows are data rows, the one after the header row 1, as in the other messages; blank lines are
    # not counted, before the header or after it.
    monkeypatch.setattr(imdb_basics, "BLOCK_SIZE", 1 << 16)
    rows = (AWKWARD[0], AWKWARD[2], "tt0000010\tmovie\tCaf\xe9", "tt0000011\tmovie\t" + "x" * (1 << 18), AWKWARD[1])
    path = tmp_path / "title.basics.tsv"
    path.write_bytes(b"\n\r\n\r" + HEADER.encode() + b"\n" + "".join(row + "\n" for row in rows).encode("latin-1"))
    code, out, err = moviegenre(monkeypatch, capsys, "imdb", "basics", path, "--out", tmp_path / "movies.csv")
    assert (code, err) == (0, "")
    assert "5 rows read: 2 kept, dropped by filter: none, 3 malformed" in out
    start = len(b"\n\r\n\r" + HEADER.encode() + b"\n") + len(AWKWARD[0]) + len(AWKWARD[2]) + 2
    assert [line.strip() for line in out.splitlines() if "row skipped" in line] == [
        f"{path}: row 2: 5 tab-separated fields instead of 9; row skipped",
        f"{path}: row 3: not UTF-8 text (byte {start + 19:,} of the uncompressed data); row skipped",
        f"{path}: row 4: a line over 2 MiB (byte {start + len(rows[2]) + 1:,} of the uncompressed data); row skipped"]


def test_a_row_that_is_not_utf8_is_skipped_and_reported_by_its_row(tmp_path):
    # The first byte that was not UTF-8 ended the read, in an error naming only its byte offset: in a 12M-row file
    # the row could not be found, and every row after it was lost.
    rows = [f"tt{n:07d}\tmovie\tTitle {n}\tx\t0\t2001\t\\N\t90\tDrama".encode() for n in range(1, 60_001)]
    for n in (3, 50_000, 60_000):  # in the first block, far past it (past 2 MiB), and the last line, unended
        rows[n - 1] = rows[n - 1].replace(b"Title", b"Caf\xe9 \xff")
    path = tmp_path / "title.basics.tsv.gz"
    path.write_bytes(gzip.compress(HEADER.encode() + b"\n".join(rows)))
    table, report = read_basics(path)
    assert (report.rows, report.kept, report.malformed) == (60_000, 59_997, 3)
    assert {"tt0000003", "tt0050000", "tt0060000"}.isdisjoint(table.ids) and table.ids[-1] == "tt0059999"
    offsets = [len(HEADER) + sum(len(row) + 1 for row in rows[:n - 1]) + 19 for n in (3, 50_000, 60_000)]
    assert [str(problem) for problem in report.examples] == [
        f"{path}: row {n}: not UTF-8 text (byte {offset:,} of the uncompressed data); row skipped"
        for n, offset in zip((3, 50_000, 60_000), offsets)]


def test_a_line_longer_than_a_block_is_skipped_in_bounded_memory(tmp_path, monkeypatch):
    # Lines are held back until they end, to be checked whole: one without end (a file of one 1 GB line) was held
    # in memory, and copied again at each read. Past a block it is a malformed row, its rest skipped unread.
    monkeypatch.setattr(imdb_basics, "BLOCK_SIZE", 1 << 16)
    path = tmp_path / "title.basics.tsv"
    rows = [f"tt{n:07d}\tmovie\tTitle\tx\t0\t2001\t\\N\t90\tDrama\n".encode() for n in range(1, 3000)]
    long_row = b"tt0009999\tmovie\t" + b"\xff" * (1 << 20)
    last = b"tt0008888\tmovie\tLast\tx\t0\t2001\t\\N\t90\tDrama\n"
    path.write_bytes(HEADER.encode() + b"\n" + b"".join(rows) + long_row + b"\r\n" + last + long_row)
    reads = []
    read = imdb_basics._Utf8Only.read
    monkeypatch.setattr(imdb_basics._Utf8Only, "read", lambda self, size=-1: reads.append(len(self.pending)) or
                        read(self, size))
    table, report = read_basics(path)
    assert max(reads) <= 1 << 16
    assert (report.rows, report.kept, report.malformed) == (3002, 3000, 2)
    offsets = [len(HEADER) + 1 + sum(map(len, rows)), len(HEADER) + 1 + sum(map(len, rows)) + len(long_row) + 2
               + len(last)]
    assert [str(problem) for problem in report.examples] == [
        f"{path}: row {row}: a line over 2 MiB (byte {offset:,} of the uncompressed data); row skipped"
        for row, offset in zip((3000, 3002), offsets)]
    assert table.ids[-1] == "tt0008888"


def test_a_line_over_a_block_that_ends_in_the_next_read_is_skipped_too(tmp_path, monkeypatch):
    # A line is held back until its end arrives; one begun in a read and ended in the next, 1-2 blocks long, was
    # passed to Arrow whole, and kept where its length lay in a field no limit checks (here the original title).
    monkeypatch.setattr(imdb_basics, "BLOCK_SIZE", 1 << 16)
    path = tmp_path / "title.basics.tsv"
    rows = [f"tt{n:07d}\tmovie\tTitle\tx\t0\t2001\t\\N\t90\tDrama\n".encode() for n in range(1, 700)]
    long_row = b"tt0009999\tmovie\tLong\t" + b"x" * 100_000 + b"\t0\t2001\t\\N\t90\tDrama\n"
    last = b"tt0008888\tmovie\tLast\tx\t0\t2001\t\\N\t90\tDrama\n"
    path.write_bytes(HEADER.encode() + b"\n" + b"".join(rows) + long_row + last)
    table, report = read_basics(path)
    start = len(HEADER) + 1 + sum(map(len, rows))
    assert start < 1 << 16 < start + len(long_row)  # begun in the first read, ended in the second
    assert (report.rows, report.kept, report.malformed) == (701, 700, 1)
    assert [str(problem) for problem in report.examples] == [
        f"{path}: row 700: a line over 2 MiB (byte {start:,} of the uncompressed data); row skipped"]
    assert table.ids[-2:] == ["tt0000699", "tt0008888"]


def test_years_and_runtimes_in_digits_arrow_does_not_cast_are_not_numbers(tmp_path):
    # '²' and '٢٠٠٠' are digits to Unicode, not to Arrow's cast: they ended the read in a traceback.
    path = tsv(tmp_path, "tt0000001\tmovie\tA\tA\t0\t²\t\\N\t90\tDrama",
               "tt0000002\tmovie\tB\tB\t0\t2000\t\\N\t٩٠\tDrama", "tt0000003\tmovie\tC\tC\t¹\t2000\t\\N\t90\tDrama")
    table, report = read_basics(path)
    assert table.ids == ["tt0000002"] and report.malformed == 2
    table, report = read_basics(path, BasicsFilter(min_runtime=60))  # a runtime in other digits is unknown
    assert table.ids == [] and report.dropped["runtime"] == 1


def test_a_row_that_reads_as_a_marker_is_still_one_malformed_row(tmp_path):
    path = tsv(tmp_path, "\x00not UTF-8 text at byte abc", "tt0000001\tmovie\tA\tA\t0\t2000\t\\N\t90\tDrama")
    table, report = read_basics(path)
    assert table.ids == ["tt0000001"] and report.malformed == 1
    assert str(report.examples[0]).endswith("row 1: 1 tab-separated fields instead of 9; row skipped")


def test_a_file_that_is_not_utf8_throughout_is_refused_in_one_line(tmp_path):
    rows = [f"tt{n:07d}\tmovie\tCaf\xe9 {n}\tx\t0\t2001\t\\N\t90\tDrama\n" for n in range(1, 100)]
    path = tmp_path / "title.basics.tsv"
    path.write_bytes((HEADER + "".join(rows)).encode("latin-1"))
    with pytest.raises(DataError, match=rf"^{path}: not UTF-8 text \(byte {len(HEADER) + 19:,} of the uncompressed "):
        read_basics(path)



@pytest.mark.parametrize("runtime", ["abc", "9O", "-5", "1234567890"])
def test_a_runtime_that_is_not_a_number_is_unknown_like_a_null_one(tmp_path, runtime):
    # Such a row was skipped as malformed even with no runtime filter asked for, when runtimeMinutes is unused.
    path = tsv(tmp_path, AWKWARD[0], f"tt0000010\tmovie\tOdd runtime\tx\t0\t2001\t\\N\t{runtime}\tDrama")
    table, report = read_basics(path)
    assert (table.ids, report.malformed, report.kept) == (["tt0000001", "tt0000010"], 0, 2)
    assert table.frame["title"].tolist()[1] == "Odd runtime"
    table, report = read_basics(path, BasicsFilter(min_runtime=60))
    assert (table.ids, report.malformed, report.dropped["runtime"]) == (["tt0000001"], 0, 1)
