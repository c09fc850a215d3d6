"""Fetch each title's page for its poster, short description and genres; write a movie table + posters.

Built to run unattended for days: polite (robots.txt, a descriptive User-Agent, one global rate limit,
bounded concurrency, backoff, Retry-After) and resumable (a SQLite row per title, posters written with an
atomic rename before their row says done). Kill it at any moment and the next run picks up where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import re
import signal
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
from PIL import Image

from moviegenre import __version__
from moviegenre.acquisition import IMDB_ID
from moviegenre.acquisition.fetch import Fetcher, FetchError, absolute_url
from moviegenre.acquisition.pages import TitlePage, parse_title_page
from moviegenre.acquisition.state import Outcome, ScrapeState, Summary
from moviegenre.data.images import MAX_IMAGE_BYTES, load_image
from moviegenre.data.readers import read_table
from moviegenre.data.table import MovieTable, atomic_write_bytes, check_not_input, plural
from moviegenre.errors import ConfigError, DataError, ImageError
from moviegenre.params import Interval

DEFAULT_BASE_URL = "https://www.imdb.com"
DEFAULT_USER_AGENT = (f"moviegenre/{__version__} (movie genre research dataset builder; rate-limited; "
                      "honours robots.txt)")
TABLE_NAME = "movies.csv"  # what the scraped table is called in --out
POSTER_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
# A polite crawler keeps few requests open at once; each title in flight is also a worker and a pooled connection.
MAX_CONCURRENCY = 64
# Each setting's range. Waits are bounded (a typo must not park a scrape for days: at the slowest rate, requests
# are 1,000 s apart); a page or poster is held in memory, and a poster over the image loader's limit would be
# refused anyway.
LIMITS = {"rate": Interval(0.001), "timeout": Interval(0, 600, low_open=True),
          "max_bytes": Interval(1, MAX_IMAGE_BYTES, whole=True),
          "concurrency": Interval(1, MAX_CONCURRENCY, whole=True), "max_tries": Interval(1, 100, whole=True),
          "backoff": Interval(0, 3600), "max_backoff": Interval(0, 3600), "max_retry_after": Interval(0, 86400)}

Progress = Callable[[str, Outcome], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    """A title to scrape, with what the input table already knows about it."""

    imdb_id: str
    title: str
    year: int | None
    genres: tuple[str, ...]


@dataclass(frozen=True)
class ScrapeSettings:
    base_url: str = DEFAULT_BASE_URL  # title pages are fetched from <base_url>/title/<imdb_id>/
    rate: float = 2.0  # requests per second over the whole run: pages, posters and robots.txt together
    concurrency: int = 4  # titles in flight at once; also the size of the connection pool
    timeout: float = 30.0  # seconds for one whole answer, first byte to last
    max_tries: int = 4  # per request, for timeouts, network errors, 429 and 5xx; other 4xx are not retried
    backoff: float = 2.0  # first wait before a retry (s), doubled each time, plus up to this much jitter
    max_backoff: float = 120.0  # longest wait between two tries, unless the site's Retry-After asks for more
    max_retry_after: float = 300.0  # longest Retry-After honoured (s); a longer one pauses this long, fails the title
    max_bytes: int = 30_000_000  # a page or poster larger than this is refused instead of held in memory
    user_agent: str = DEFAULT_USER_AGENT  # says who is crawling and how; robots.txt rules match its first word
    retry_failed: bool = False  # also fetch titles that failed in earlier runs, or were done without their poster

    def __post_init__(self) -> None:
        if urlsplit(self.base_url).scheme not in ("http", "https") or not urlsplit(self.base_url).netloc:
            raise ConfigError(f"--base-url '{self.base_url}' is not an http(s) URL (e.g. https://www.imdb.com)")
        for name, allowed in LIMITS.items():
            # Bounded and finite: an infinite timeout or wait never ends, and NaN (in no range) failed every title.
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: give {allowed}")
        # A header holds printable ASCII: "é" failed with an encoding traceback, and a line break failed every
        # title as "robots.txt unreachable".
        if not (self.user_agent.strip() and self.user_agent.isascii() and self.user_agent.isprintable()):
            raise ConfigError(f"--user-agent {self.user_agent!r}: give printable ASCII text (letters, digits, "
                              "punctuation, spaces; no accents, tabs or line breaks) that says who you are")


def parse_rate(text: str) -> float:
    """``2/s``, ``30/min``, ``1000/h`` or a bare number of requests per second."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*", text)
    per = {"m": 60, "min": 60, "h": 3600, "hour": 3600}
    rate = float(match[1]) / per.get(match[2] or "s", 1) if match else math.nan  # NaN: in no range
    if rate not in LIMITS["rate"]:
        raise ConfigError(f"--rate '{text}' is not a rate of {LIMITS['rate']} requests per second "
                          f"(use e.g. 2/s, 30/min or 1000/h; the slowest is {LIMITS['rate'].low * 3600:g}/h)")
    return rate


def scrape(movies: str | Path, out: str | Path, settings: ScrapeSettings = ScrapeSettings(),
           progress: Progress | None = None, on_start: Callable[[int], None] | None = None) -> Summary:
    """Scrape the titles of the ``movies`` table into ``out`` (``movies.csv``, ``posters/``, ``state.sqlite``).

    ``on_start(n)`` is told how many titles this run will fetch; ``progress(id, outcome)`` hears each one end.
    """
    out = Path(out)
    check_not_input([movies], [out / TABLE_NAME])  # the scraped table would replace the list of titles to scrape
    table = read_table(movies, labelled=False)
    state = ScrapeState(out)
    try:
        _remove_stale_temporaries(out / "posters")
        damaged = state.requeue_damaged()
        if damaged:
            log.warning("%s: %s had a damaged record (%s%s); fetching again", state.path,
                        plural(len(damaged), "finished title"), ", ".join(damaged[:5]),
                        ", ..." if len(damaged) > 5 else "")
        state.add(table.ids)
        todo = state.todo(table.ids, retry_failed=settings.retry_failed)
        if on_start:
            on_start(len(todo))
        wanted = set(todo)
        titles = [Wanted(row.imdb_id, row.title, None if pd.isna(row.year) else int(row.year), tuple(row.genres))
                  for row in table.frame.itertuples(index=False) if row.imdb_id in wanted]
        try:
            with _sigterm_as_interrupt():
                asyncio.run(_run(titles, out, state, settings, progress))
        finally:
            _write_table(out, state, table)  # however the run ends, what is done stays usable; a rerun resumes
        return state.summary(table.ids)
    except sqlite3.DatabaseError as error:  # a full disk, or the file damaged while the crawl ran
        raise DataError(state.path, f"the state database failed during the crawl ({error})",
                        hint="free disk space, or move it away to start afresh; movies.csv keeps what it last held"
                        ) from None
    finally:
        state.close()


async def _run(titles: list[Wanted], out: Path, state: ScrapeState, settings: ScrapeSettings,
               progress: Progress | None) -> None:
    remaining = iter(titles)  # shared by the workers: next() never awaits, so no title is taken twice
    async with Fetcher(user_agent=settings.user_agent, rate=settings.rate, concurrency=settings.concurrency,
                       timeout=settings.timeout, max_tries=settings.max_tries, backoff=settings.backoff,
                       max_backoff=settings.max_backoff, max_bytes=settings.max_bytes,
                       max_retry_after=settings.max_retry_after) as fetcher:
        async def worker() -> None:
            for movie in remaining:
                state.start(movie.imdb_id)
                try:
                    outcome = await _scrape_one(movie, fetcher, out, settings)
                except Exception as error:  # noqa: BLE001 - one hostile page must not end a crawl of days
                    outcome = Outcome("failed", "unexpected error", f"{type(error).__name__}: {error}"[:500])
                state.finish(movie.imdb_id, outcome)
                if progress:
                    progress(movie.imdb_id, outcome)

        # A worker past the number of titles would find nothing left to take.
        await asyncio.gather(*(worker() for _ in range(min(settings.concurrency, len(titles)))))


async def _scrape_one(movie: Wanted, fetcher: Fetcher, out: Path, settings: ScrapeSettings) -> Outcome:
    if not IMDB_ID.fullmatch(movie.imdb_id):
        return Outcome("failed", "invalid id", f"'{movie.imdb_id}' is not tt + 7 or more digits")
    page_url = f"{settings.base_url.rstrip('/')}/title/{movie.imdb_id}/"
    try:
        page_bytes = await fetcher.get(page_url)
    except FetchError as error:
        return Outcome("failed", error.reason, error.detail)
    page = await asyncio.to_thread(parse_title_page, page_bytes.decode("utf-8", "replace"))
    if page is None:
        return Outcome("failed", "no metadata", f"{page_url} has neither JSON-LD nor __NEXT_DATA__")
    if not page.is_movie:
        return Outcome("skipped", f"not a movie: {page.kind}", page_url)
    poster = ""
    if page.poster_url:
        try:
            poster = await _download_poster(absolute_url(page.poster_url, base=page_url), movie.imdb_id, fetcher, out)
        except FetchError as error:
            if not error.lasting:  # failed, so that --retry-failed fetches the poster once the site is well again
                return Outcome("failed", f"poster: {error.reason}", error.detail)
            # The next run would get the same answer: the page's description and genres are kept, the gap noted.
            return Outcome("done", f"no poster: {error.reason}", error.detail, _record(movie, page, ""))
        except ImageError as error:
            return Outcome("failed", "poster: not a usable image", str(error))
    return Outcome("done", record=_record(movie, page, poster))


async def _download_poster(url: str, imdb_id: str, fetcher: Fetcher, out: Path) -> str:
    """Fetch, check that it decodes, and write the poster atomically; its path relative to ``out``."""
    data = await fetcher.get(url)
    await asyncio.to_thread(load_image, data, name=url)
    # Image.open only reads the header here, to name the file; load_image above did the safe full decode.
    relative = f"posters/{imdb_id}{POSTER_SUFFIXES.get(Image.open(io.BytesIO(data)).format, '.img')}"
    await asyncio.to_thread(atomic_write_bytes, out / relative, data)
    return relative


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops the run as Ctrl-C does, so that the table of finished titles is written either way."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record(movie: Wanted, page: TitlePage, poster: str) -> dict:
    """The input table's title and year win (IMDb's own, not localised); the page's genres win (fresher)."""
    return {"title": movie.title or page.title, "year": movie.year if movie.year is not None else page.year,
            "genres": list(page.genres or movie.genres), "description": page.description, "poster": poster}


def _write_table(out: Path, state: ScrapeState, table: MovieTable) -> None:
    """Every finished title of the folder, this run's input first: an earlier run's list may have been another."""
    records = [{**record, "imdb_id": imdb_id, "poster": str(out / record["poster"]) if record["poster"] else ""}
               for imdb_id, record in state.records(first=table.ids)]
    MovieTable.from_records(records, source=str(out / TABLE_NAME)).save(out / TABLE_NAME)


def _remove_stale_temporaries(posters: Path) -> None:
    """A run killed mid-write leaves a hidden ``.<name>.*.tmp`` beside the poster it was writing."""
    if posters.is_dir():
        for stale in posters.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
