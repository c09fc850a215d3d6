"""The scraper's memory between runs: one SQLite row per title, written the moment its fate is known.

SQLite commits are atomic and survive a killed process, so a run stopped at any instant leaves every
title either finished (done/failed/skipped, with what was scraped) or still pending, never in between.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from moviegenre.errors import ConfigError, DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS titles (
    imdb_id     TEXT PRIMARY KEY,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
    reason      TEXT NOT NULL DEFAULT '',  -- short and stable, for counting: 'http 404', 'timeout', ...
    detail      TEXT NOT NULL DEFAULT '',  -- the specifics: URL, message
    attempts    INTEGER NOT NULL DEFAULT 0,  -- runs that started on this title, killed ones included
    record      TEXT,  -- JSON of what was scraped, for done titles
    updated_at  REAL
)
"""
COLUMNS = ["imdb_id", "status", "reason", "detail", "attempts", "record", "updated_at"]
# What ``finish`` stores for a done title (``scraper._record``), and what reading it back relies on.
RECORD_TYPES = {"title": str, "year": (int, type(None)), "genres": list, "description": str, "poster": str}


@dataclass(frozen=True)
class Outcome:
    """How one title ended in one run."""

    status: str  # done, failed or skipped
    reason: str = ""  # why it failed or was skipped; why a done title has none of the poster its page names
    detail: str = ""
    record: dict | None = None  # title, year, genres, description, poster (relative to the output folder)


@dataclass
class Summary:
    """Where the titles of the input table stand, over all runs so far."""

    done: int = 0
    with_poster: int = 0
    no_poster: Counter[str] = field(default_factory=Counter)  # reason ("no poster: http 404") -> done titles
    pending: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # reason -> titles
    skipped: Counter[str] = field(default_factory=Counter)  # reason ("not a movie: TVSeries") -> titles


class ScrapeState:
    """The state database of one output folder. Only one run may use a folder at a time."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # An OS lock rather than a lock file: it goes away with the process, even after SIGKILL.
            self._lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DataError(folder, f"cannot write the output folder ({error.strerror})",
                            hint="choose a folder you can write to") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise ConfigError(f"{folder}: another scrape is running on this folder; wait for it or stop it") from None
        self.path = folder / "state.sqlite"
        try:
            self.db = _open(self.path)
        except sqlite3.DatabaseError as error:
            os.close(self._lock)
            raise DataError(self.path, f"unusable state database ({error})",
                            hint="move it away to start this folder afresh") from None

    def close(self) -> None:
        self.db.close()
        os.close(self._lock)

    def add(self, ids: list[str]) -> None:
        """Register titles; those already known keep their status."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO titles (imdb_id) VALUES (?)", ((i,) for i in ids))

    def requeue_damaged(self) -> list[str]:
        """Put back to pending the done titles whose record no longer reads (a disk error, a hand edit), so that
        this run fetches them again; their ids. The rest of the state is sound, and days of crawling with it."""
        done = self.db.execute("SELECT imdb_id, record FROM titles WHERE status = 'done'")
        damaged = [imdb_id for imdb_id, record in done if not _readable(record)]
        with self.db:
            self.db.executemany("UPDATE titles SET status = 'pending', reason = '', detail = '', record = NULL "
                                "WHERE imdb_id = ?", ((i,) for i in damaged))
        return damaged

    def todo(self, ids: list[str], *, retry_failed: bool) -> list[str]:
        """Of ``ids``, in order, those this run should fetch: the pending ones, and with ``retry_failed`` the failed
        ones and those done without the poster their page named (its answer may change too)."""
        query = "SELECT imdb_id FROM titles WHERE status = 'pending'"
        if retry_failed:
            query += " OR status = 'failed' OR (status = 'done' AND reason != '')"
        wanted = {imdb_id for (imdb_id,) in self.db.execute(query)}
        return [i for i in ids if i in wanted]

    def start(self, imdb_id: str) -> None:
        with self.db:
            self.db.execute("UPDATE titles SET attempts = attempts + 1, updated_at = ? WHERE imdb_id = ?",
                            (time.time(), imdb_id))

    def finish(self, imdb_id: str, outcome: Outcome) -> None:
        """Store how ``imdb_id`` ended; a title done before (``--retry-failed`` fetches those done without their
        poster again) stays done where this try failed: a retry adds a poster, it never takes the record away."""
        record = json.dumps(outcome.record) if outcome.record is not None else None
        with self.db:
            self.db.execute("UPDATE titles SET status = ?, reason = ?, detail = ?, record = ?, updated_at = ? "
                            "WHERE imdb_id = ? AND (status != 'done' OR ? = 'done')",
                            (outcome.status, outcome.reason, outcome.detail, record, time.time(), imdb_id,
                             outcome.status))

    def records(self, *, first: list[str]) -> list[tuple[str, dict]]:
        """(id, record) of every done title: those among ``first`` in its order, then the others as they were added."""
        done = dict(self.db.execute("SELECT imdb_id, record FROM titles WHERE status = 'done' ORDER BY rowid"))
        order = dict.fromkeys([*(i for i in first if i in done), *done])
        return [(i, json.loads(done[i])) for i in order]

    def summary(self, ids: list[str]) -> Summary:
        wanted = set(ids)
        summary = Summary()
        for imdb_id, status, reason, record in self.db.execute("SELECT imdb_id, status, reason, record FROM titles"):
            if imdb_id not in wanted:
                continue
            if status == "done":
                summary.done += 1
                summary.with_poster += bool(json.loads(record).get("poster"))
                if reason:
                    summary.no_poster[reason] += 1
            elif status == "failed":
                summary.failed[reason] += 1
            elif status == "skipped":
                summary.skipped[reason] += 1
            else:
                summary.pending += 1
        return summary


def _open(path: Path) -> sqlite3.Connection:
    """The state database at ``path``, created if new; a sqlite3.DatabaseError if it is not one this code wrote."""
    db = sqlite3.connect(path)
    try:
        # Another program's database would get a titles table and WAL mode; a 'titles' table made by something else,
        # or damaged pages, would only fail mid-crawl: all are found here, before any request and before the file is
        # changed (quick_check reads it once: seconds at most). An empty database is a new scrape's.
        others = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE tbl_name != 'titles'")]
        if others:
            raise sqlite3.DatabaseError(f"it holds tables that are not a scrape's: {_listed(others)}")
        columns = [row[1] for row in db.execute("PRAGMA table_info(titles)")]
        if columns not in ([], COLUMNS):
            raise sqlite3.DatabaseError(f"its titles table has the columns {_listed(columns)}, not a scrape's")
        if db.execute("PRAGMA quick_check(1)").fetchone() != ("ok",):
            raise sqlite3.DatabaseError("damaged pages, found by PRAGMA quick_check")
        # WAL + NORMAL: each commit survives a killed process (only a power cut could lose the last ones).
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _listed(names: list[str]) -> str:
    """Names from a database of unknown origin, for a one-line error: any count, any length, any characters."""
    return " ".join(", ".join(names).split())[:200]


def _readable(record: str | None) -> bool:
    try:
        value = json.loads(record)
    except (TypeError, ValueError, RecursionError):
        return False
    return isinstance(value, dict) and all(isinstance(value.get(k), t) for k, t in RECORD_TYPES.items())
