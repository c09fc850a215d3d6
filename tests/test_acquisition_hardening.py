"""Hardening of data acquisition: a damaged scrape state is a one-line error (or, for a single damaged record, a
warning and a refetch) found before any request; ``imdb basics`` never writes an id that ``scrape`` refuses."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from conftest import run_moviegenre
from moviegenre.acquisition import imdb_basics, scraper
from moviegenre.acquisition.imdb_basics import read_basics
from moviegenre.acquisition.scraper import MAX_CONCURRENCY, ScrapeSettings, scrape
from moviegenre.acquisition.state import Outcome, ScrapeState
from moviegenre.data.readers import read_table
from moviegenre.errors import DataError
from test_imdb_basics import tsv
from test_scraper import movies_csv, statuses

IDS = ["tt0000001", "tt0000002", "tt0000003"]


@pytest.fixture
def fetched(monkeypatch) -> list[str]:
    """Scraping without a network: every title is done at once, with a record naming it; the ids fetched, in order."""
    seen = []

    async def scrape_one(movie, fetcher, out, settings):
        seen.append(movie.imdb_id)
        return Outcome("done", record={"title": f"Title of {movie.imdb_id}", "year": 2001, "genres": ["Drama"],
                                       "description": "A story.", "poster": ""})

    monkeypatch.setattr(scraper, "_scrape_one", scrape_one)
    return seen


@pytest.fixture
def no_requests(monkeypatch):
    def fetcher(**settings):
        raise AssertionError("the crawl started")

    monkeypatch.setattr(scraper, "Fetcher", fetcher)


def set_record(out: Path, imdb_id: str, record: str) -> None:
    db = sqlite3.connect(out / "state.sqlite")
    with db:
        db.execute("UPDATE titles SET record = ? WHERE imdb_id = ?", (record, imdb_id))
    db.close()


# -- a damaged scrape state ----------------------------------------------------------------------------------

def test_a_damaged_record_is_fetched_again_with_a_warning_and_the_others_are_kept(fetched, tmp_path, caplog):
    movies, out = movies_csv(tmp_path / "in.csv", IDS), tmp_path / "out"
    scrape(movies, out)
    written = (out / "movies.csv").read_bytes()
    set_record(out, IDS[0], '{"title": "cut sho')  # not JSON
    set_record(out, IDS[2], json.dumps({"title": "No poster field"}))  # JSON, not a record
    fetched.clear()
    with caplog.at_level(logging.WARNING):
        summary = scrape(movies, out)
    assert fetched == [IDS[0], IDS[2]]  # only those: the finished title is not fetched again
    assert f"{out / 'state.sqlite'}: 2 finished titles had a damaged record ({IDS[0]}, {IDS[2]}); fetching again" \
        in caplog.text
    assert (summary.done, summary.pending) == (3, 0)
    assert (out / "movies.csv").read_bytes() == written
    assert statuses(out)[IDS[0]] == ("done", "", 2)


def damage(state: Path, how: str) -> None:
    if how == "not a database":
        state.write_text("notes, not a database\n" * 100)
    elif how.startswith("another program's"):  # its table named titles, or tables a scrape has none of
        db = sqlite3.connect(state)
        if how.endswith("WAL database"):
            db.execute("PRAGMA journal_mode=WAL")
        table = "titles" if how.endswith("table") else "notes"
        db.execute(f"CREATE TABLE {table} (imdb_id TEXT)")
        db.execute(f"INSERT INTO {table} VALUES ('tt0000001')")
        db.commit()
        db.close()
    else:  # damaged pages: a state of many titles with bytes overwritten past its first pages
        folder = state.parent / "whole"
        whole = ScrapeState(folder)
        ids = [f"tt{n:07d}" for n in range(3000)]
        whole.add(ids)
        for imdb_id in ids:
            whole.finish(imdb_id, Outcome("done", record={"title": "x" * 80, "year": None, "genres": [],
                                                          "description": "", "poster": ""}))
        whole.close()
        data = bytearray((folder / "state.sqlite").read_bytes())
        for page in range(4096 * 4, len(data), 4096):
            data[page + 8: page + 40] = b"\xff" * 32
        state.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["not a database", "another program's table", "another program's database",
                                 "another program's WAL database", "damaged pages"])
def test_an_unusable_state_is_one_line_before_any_request_and_changes_nothing(how, fetched, no_requests, tmp_path,
                                                                              monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    damage(out / "state.sqlite", how)
    (out / "movies.csv").write_text("imdb_id,title,year,genres,description,poster\ntt0000001,Kept,2001,Drama,,\n")
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    code, stdout, err = run_moviegenre(monkeypatch, capsys, "scrape", movies_csv(tmp_path / "in.csv", IDS),
                                       "--out", out)
    assert (code, stdout, fetched) == (2, "", [])
    assert err.startswith(f"error: {out / 'state.sqlite'}: unusable state database (") and err.count("\n") == 1, err
    assert err.endswith("(move it away to start this folder afresh)\n")
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.name in before} == before
    assert not list(out.glob("state.sqlite-*"))  # no -wal or -shm file left beside it either


def test_a_table_from_elsewhere_is_named_by_its_columns(tmp_path):
    damage(tmp_path / "state.sqlite", "another program's table")
    with pytest.raises(DataError, match="its titles table has the columns imdb_id, not a scrape's"):
        ScrapeState(tmp_path)
    ScrapeState(tmp_path / "fresh").close()  # a new folder still opens, and again once it exists
    ScrapeState(tmp_path / "fresh").close()


def test_another_programs_database_is_named_by_its_tables(tmp_path):
    # It had no titles table, so it passed the check of one: it got a titles table and was switched to WAL mode.
    damage(tmp_path / "state.sqlite", "another program's database")
    with pytest.raises(DataError, match="unusable state database \\(it holds tables that are not a scrape's: notes\\)"):
        ScrapeState(tmp_path)
    (tmp_path / "state.sqlite").write_bytes(b"")  # an empty database is a new scrape's
    ScrapeState(tmp_path).close()


def test_no_more_workers_start_than_there_are_titles(fetched, tmp_path, monkeypatch):
    workers = []
    gather = asyncio.gather

    def counted(*aws):
        workers.append(len(aws))
        return gather(*aws)

    monkeypatch.setattr(scraper.asyncio, "gather", counted)
    scrape(movies_csv(tmp_path / "in.csv", IDS[:2]), tmp_path / "out", ScrapeSettings(concurrency=MAX_CONCURRENCY))
    assert (workers, fetched) == ([2], IDS[:2])
    scrape(movies_csv(tmp_path / "in.csv", IDS[:2]), tmp_path / "out", ScrapeSettings(concurrency=MAX_CONCURRENCY))
    assert workers == [2, 0]  # all done already: none at all


def test_a_state_database_failing_mid_crawl_is_one_line_and_keeps_the_last_table(fetched, tmp_path, monkeypatch):
    movies, out = movies_csv(tmp_path / "in.csv", IDS), tmp_path / "out"
    scrape(movies, out)
    written = (out / "movies.csv").read_bytes()

    def disk_error(self, imdb_id, outcome):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ScrapeState, "finish", disk_error)
    with pytest.raises(DataError, match=r"state.sqlite: the state database failed during the crawl \(disk I/O error\)"):
        scrape(movies_csv(tmp_path / "more.csv", [*IDS, "tt0000004"]), out)
    assert (out / "movies.csv").read_bytes() == written  # the three finished titles, still there


def test_a_second_list_into_the_same_folder_keeps_the_first_lists_titles_in_the_table(fetched, tmp_path):
    out = tmp_path / "out"
    scrape(movies_csv(tmp_path / "first.csv", IDS[:2]), out)
    scrape(movies_csv(tmp_path / "second.csv", [IDS[2], IDS[0]]), out)
    assert fetched == [*IDS[:2], IDS[2]]
    # This run's titles first, in its order, then the earlier ones: movies.csv held only the second list's.
    assert read_table(out / "movies.csv", labelled=False).ids == [IDS[2], IDS[0], IDS[1]]


# -- imdb basics: only ids scrape accepts ---------------------------------------------------------------------

ID_ROWS = (
    "tt0000001\tmovie\tFirst\tx\t0\t2001\t\\N\t90\tDrama",
    "\tmovie\tEmpty id\tx\t0\t2001\t\\N\t90\tDrama",
    "\\N\tmovie\tNull id\tx\t0\t2001\t\\N\t90\tDrama",
    "tt123\tmovie\tShort id\tx\t0\t2001\t\\N\t90\tDrama",
    " tt0000005\tmovie\tPadded id\tx\t0\t2001\t\\N\t90\tDrama",
    "tt0000001\tmovie\tFirst again\tx\t0\t2002\t\\N\t90\tComedy",
    "\\N\ttvSeries\tFiltered anyway\tx\t0\t2001\t\\N\t\\N\tDrama",
    "tt0000007\ttvSeries\tA series\tx\t0\t2001\t\\N\t\\N\tDrama",
    "tt0000007\tmovie\tIts id again, as a movie\tx\t0\t2001\t\\N\t90\tDrama",  # the first row kept wins
    "tt0000008\tmovie\tLast\tx\t0\t2001\t\\N\t90\tDrama",
    "tt0000008\tmovie\tLast again\tx\t0\t2001\t\\N\t90\tDrama",
)


def test_empty_null_malformed_and_repeated_ids_are_dropped_and_reported(tmp_path, monkeypatch):
    table, report = read_basics(tsv(tmp_path, *ID_ROWS))
    assert table.ids == ["tt0000001", "tt0000007", "tt0000008"]
    assert table.titles == ["First", "Its id again, as a movie", "Last"]
    assert (report.rows, report.kept, report.malformed, report.dropped) == (11, 3, 6, {"titleType": 2, "isAdult": 0})
    assert report.kept + sum(report.dropped.values()) + report.malformed == report.rows
    messages = [str(problem) for problem in report.examples]
    assert messages[:4] == [f"{tmp_path / 'title.basics.tsv'}: field 'tconst': title '{title}': '{imdb_id}' is not an "
                            "IMDb id (tt + 7 or more digits); row skipped"
                            for title, imdb_id in (("Empty id", ""), ("Null id", "\\N"), ("Short id", "tt123"),
                                                   ("Padded id", " tt0000005"))]
    assert messages[4:] == [f"{tmp_path / 'title.basics.tsv'}: field 'tconst': title {imdb_id}: listed again; "
                            "row skipped, the first kept" for imdb_id in ("tt0000001", "tt0000008")]

    monkeypatch.setattr(imdb_basics, "BLOCK_SIZE", 256)  # a repeat in a later block is found all the same
    blocks, block_report = read_basics(tsv(tmp_path, *ID_ROWS))
    assert blocks.frame.equals(table.frame) and block_report.malformed == 6


def test_titles_and_genres_over_the_table_limits_are_dropped_and_reported(tmp_path):
    many = ",".join(f"G{i}" for i in range(31))
    table, report = read_basics(tsv(tmp_path, "tt0000001\tmovie\tKept\tx\t0\t2001\t\\N\t90\tDrama",
                                    f"tt0000002\tmovie\t{'T' * 501}\tx\t0\t2001\t\\N\t90\tDrama",
                                    f"tt0000003\tmovie\tMany\tx\t0\t2001\t\\N\t90\t{many}",
                                    f"tt0000004\tmovie\tLong genre\tx\t0\t2001\t\\N\t90\tDrama,{'G' * 51}",
                                    f"tt0000005\tmovie\tAt the limits\tx\t0\t2001\t\\N\t90\t{many[:many.rindex(',')]}"))
    assert table.ids == ["tt0000001", "tt0000005"] and report.malformed == 3
    assert [str(problem).split(": ", 1)[1] for problem in report.examples] == [
        "field 'title': title tt0000002: 501 characters, over the 500 limit; row skipped",
        "field 'genres': title tt0000003: 31 genres, over the 30 limit; row skipped",
        "field 'genres': title tt0000004: a genre name over 50 characters; row skipped"]


def test_the_written_table_is_one_scrape_accepts(tmp_path, monkeypatch, capsys):
    out = tmp_path / "movies.csv"
    code, stdout, err = run_moviegenre(monkeypatch, capsys, "imdb", "basics", tsv(tmp_path, *ID_ROWS), "--out", out)
    assert (code, err) == (0, "")
    assert "11 rows read: 3 kept, dropped by filter: titleType 2, 6 malformed" in stdout
    assert read_table(out, labelled=False).ids == ["tt0000001", "tt0000007", "tt0000008"]


def test_a_scrape_in_which_every_title_failed_exits_1(tmp_path, monkeypatch, capsys):
    """It exited 0 with 'failed: robots.txt unreachable: 3': a pipeline went on with an empty table."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket closes
    code, stdout, _ = run_moviegenre(monkeypatch, capsys, "scrape", movies_csv(tmp_path / "in.csv", IDS), "--out",
                                     tmp_path / "out", "--base-url", f"http://127.0.0.1:{port}", "--max-tries", 1)
    assert code == 1
    assert stdout.startswith("done 0 (0 with a poster), failed 3,") and "robots.txt" in stdout
