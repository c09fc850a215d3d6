"""``moviegenre scrape`` against a local IMDb look-alike on 127.0.0.1 that serves the real saved pages (or
synthetic ones), posters from a second origin, a robots.txt, and faults: 500s, 429 + Retry-After, answers
slower than the timeout, truncated posters, pages without JSON-LD, 404s."""

from __future__ import annotations

import itertools
import json
import math
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from gzip import compress as gzip
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import draw_poster
from moviegenre.acquisition.fetch import RateLimiter, parse_retry_after
from moviegenre.acquisition.pages import parse_title_page
from moviegenre.acquisition.scraper import MAX_CONCURRENCY, ScrapeSettings, parse_rate, scrape
from moviegenre.cli import run
from moviegenre.data.images import load_image
from moviegenre.data.readers import read_table
from moviegenre.errors import ConfigError

IMDB_MEDIA = "https://m.media-amazon.com/"
SLOW_SECONDS = 1.5  # how long the "slow" fault holds an answer: well past FAST's timeout
FAST = {"timeout": 0.5, "max_tries": 3, "backoff": 0.01, "max_backoff": 0.05}
REAL_MOVIES = ["tt0068646", "tt0086250", "tt0099088", "tt0110912", "tt0133093", "tt0345950", "tt0407887",
               "tt0468569", "tt1130884", "tt1477834", "tt1872181", "tt2527338"]
REAL_OTHERS = {"tt0068112": "TVSeries", "tt0101188": "TVSeries", "tt0114327": "TVSeries", "tt01207372": "TVEpisode",
               "tt0253658": "CreativeWork", "tt0944947": "TVSeries", "tt4158110": "TVSeries"}
# id -> fault; every one of these also has a page (a copy of a real or synthetic movie page) unless noted
FAULTS = {"tt9000500": "500", "tt9000501": "500-twice", "tt9000429": "429-once", "tt9000404": "no page",
          "tt9000408": "slow", "tt9000777": "truncated poster", "tt9000888": "no json-ld",
          "tt9000999": "robots-disallowed"}
FAILED = {"tt9000500": "http 500", "tt9000404": "http 404", "tt9000408": "timeout",
          "tt9000777": "poster: not a usable image", "tt9000888": "no metadata", "tt9000999": "robots.txt disallows"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Anything not for 127.0.0.1 goes to a dead local proxy port, so a stray URL cannot leave the machine."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


class Site:
    """Title pages and robots.txt on one server, posters on another (another origin, like IMDb's CDN)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pages: dict[str, bytes] = {}
        self.posters: dict[str, bytes] = {}
        # None: answer 503; a Response: answer that
        self.robots: str | Response | None = "User-agent: *\nDisallow: /title/tt9000999/\n"
        self.log: list[tuple[float, str, int]] = []  # (arrival, "pages/..." or "media/...", status sent)
        self.hits: Counter[str] = Counter()
        self.answers: dict[str, Response] = {}  # imdb_id -> a fixed answer for its page, whatever FAULTS says
        self.lock = threading.Lock()
        self.servers = {name: HTTPServer(host="127.0.0.1", threaded=True) for name in ("pages", "media")}
        for name, server in self.servers.items():
            server.expect_request(re.compile(".*")).respond_with_handler(getattr(self, f"_{name}"))
            server.start()
        self.base_url = self.servers["pages"].url_for("").rstrip("/")
        self.media_url = self.servers["media"].url_for("").rstrip("/")

    def stop(self) -> None:
        for server in self.servers.values():
            server.clear()
            server.stop()

    def add_page(self, imdb_id: str, html: str) -> None:
        self.pages[imdb_id] = html.replace(IMDB_MEDIA, f"{self.media_url}/").encode("utf-8")

    def add_faults(self, template_id: str) -> None:
        template = self.pages[template_id].decode("utf-8")
        for imdb_id, fault in FAULTS.items():
            if fault == "truncated poster":
                self.pages[imdb_id] = template.replace(f"{self.media_url}/", f"{self.media_url}/truncated/").encode()
            elif fault == "no json-ld":
                self.pages[imdb_id] = re.sub(r'<script type="application/ld\+json">.*?</script>', "", template,
                                             flags=re.DOTALL).encode()
            elif fault != "no page":
                self.pages[imdb_id] = template.encode()

    def requests_for(self, imdb_id: str, since: int = 0) -> int:
        return sum(path == f"pages/title/{imdb_id}/" for _, path, _ in self.log[since:])

    def _record(self, arrival: float, path: str, response: Response) -> Response:
        with self.lock:
            self.log.append((arrival, path, response.status_code))
        return response

    def _poster(self, path: str) -> bytes:
        """A synthetic JPEG per poster path, drawn once: the handler threads should cost the client no time."""
        if path not in self.posters:
            seed = zlib.crc32(path.encode())
            self.posters[path] = draw_poster(self.tmp / "posters-served" / f"{seed}.jpg", seed=seed % 1000).read_bytes()
        return self.posters[path]

    def _pages(self, request: Request) -> Response:
        arrival = time.monotonic()
        if request.path == "/robots.txt":
            robots = (self.robots if isinstance(self.robots, Response) else
                      Response(self.robots, content_type="text/plain") if self.robots else Response("down", status=503))
            return self._record(arrival, "pages/robots.txt", robots)
        match = re.fullmatch(r"/title/(tt\d+)/", request.path)
        imdb_id = match[1] if match else ""
        with self.lock:
            self.hits[imdb_id] += 1
            hit = self.hits[imdb_id]
        fault = FAULTS.get(imdb_id)
        if imdb_id in self.answers:
            response = self.answers[imdb_id]
        elif imdb_id not in self.pages:
            response = Response("not here", status=404)
        elif fault == "500" or (fault == "500-twice" and hit <= 2):
            response = Response("server trouble", status=500)
        elif fault == "429-once" and hit == 1:
            response = Response("slow down", status=429, headers={"Retry-After": "1"})
        else:
            response = Response(self.pages[imdb_id], content_type="text/html; charset=utf-8")
        self._record(arrival, f"pages{request.path}", response)
        if fault == "slow":
            time.sleep(SLOW_SECONDS)
        return response

    def _media(self, request: Request) -> Response:
        arrival = time.monotonic()
        if request.path == "/robots.txt":
            return self._record(arrival, "media/robots.txt", Response("", status=404))  # none there: no rules
        if request.path.startswith(("/missing/", "/flaky/")):
            status = 404 if request.path.startswith("/missing/") else 500
            return self._record(arrival, f"media{request.path}", Response("no poster", status=status))
        data = self._poster(request.path.removeprefix("/truncated"))
        if request.path.startswith("/truncated/"):
            data = data[: len(data) // 2]
        return self._record(arrival, f"media{request.path}", Response(data, content_type="image/jpeg"))


@pytest.fixture
def site(tmp_path):
    site = Site(tmp_path)
    yield site
    site.stop()


def synthetic_page(imdb_id: str, number: int, kind: str = "Movie") -> str:
    data = {"@context": "http://schema.org", "@type": kind, "url": f"/title/{imdb_id}/", "name": f"Movie {number}",
            "image": f"{IMDB_MEDIA}images/M/{imdb_id}.jpg", "genre": ["Drama", "Comedy", "Horror"][number % 3],
            "description": f"Story number {number}.", "datePublished": f"{2000 + number % 10}-05-01"}
    return (f'<html><head><title>Movie {number}</title><script type="application/ld+json">{json.dumps(data)}'
            f"</script></head><body><h1>Movie {number}</h1></body></html>")


def add_synthetic(site: Site, count: int) -> list[str]:
    ids = [f"tt{1000000 + n:07d}" for n in range(count)]
    for number, imdb_id in enumerate(ids):
        site.add_page(imdb_id, synthetic_page(imdb_id, number, "Movie" if number % 7 else "TVSeries"))
    return ids


def movies_csv(path: Path, ids: list[str]) -> Path:
    path.write_text("imdb_id\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def statuses(folder: Path) -> dict[str, tuple[str, str, int]]:
    if not (folder / "state.sqlite").exists():
        return {}
    db = sqlite3.connect(folder / "state.sqlite", timeout=5)
    try:
        return {row[0]: row[1:] for row in db.execute("SELECT imdb_id, status, reason, attempts FROM titles")}
    except sqlite3.OperationalError:  # the scraper has created the file but not yet its table
        return {}
    finally:
        db.close()


def cli(*args: object) -> list[str]:
    return [sys.executable, "-c", "from moviegenre.cli import run; run()", *map(str, args)]


# -- the real saved pages, with every fault on --------------------------------------------------------------------

def test_real_pages_with_faults_end_done_failed_or_skipped(shared_data, site, tmp_path):
    for page in sorted((shared_data / "fixtures" / "imdb_pages_2020").glob("*.html")):
        site.add_page(page.stem, page.read_text(encoding="utf-8"))
    next_data = (shared_data / "fixtures" / "imdb_next_data" / "tt0133093.next_data.json").read_text(encoding="utf-8")
    site.add_page("tt9000001", f'<html><head><script id="__NEXT_DATA__" type="application/json">{next_data}'
                               "</script></head><body></body></html>")
    site.add_faults("tt0110912")
    ids = [*REAL_MOVIES, *REAL_OTHERS, "tt9000001", *FAULTS]
    # A second of timeout, still short of the slow fault's 1.5 s: on a busy machine a real page once took over 0.5 s.
    settings = ScrapeSettings(base_url=site.base_url, rate=100, concurrency=4, **{**FAST, "timeout": 1.0})
    summary = scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "out", settings)

    done = [*REAL_MOVIES, "tt9000001", "tt9000501", "tt9000429"]
    assert (summary.done, summary.with_poster, summary.pending) == (15, 15, 0)
    assert summary.failed == Counter(FAILED.values())
    assert summary.skipped == {"not a movie: TVSeries": 5, "not a movie: TVEpisode": 1,
                               "not a movie: CreativeWork": 1}
    state = statuses(tmp_path / "out")
    assert {i: s[:2] for i, s in state.items() if s[0] == "failed"} == {i: ("failed", r) for i, r in FAILED.items()}
    assert all(attempts == 1 for _, _, attempts in state.values())

    # retries: 500 up to max_tries, never for 404, never a request robots.txt forbids
    assert site.requests_for("tt9000500") == site.requests_for("tt9000408") == 3
    assert site.requests_for("tt9000404") == site.requests_for("tt9000888") == 1
    assert site.requests_for("tt9000501") == 3 and site.requests_for("tt9000999") == 0
    # Retry-After: 1 holds back the whole crawler, not just that title
    refused = next(t for t, path, status in site.log if status == 429)
    retried = next(t for t, path, _ in site.log if path == "pages/title/tt9000429/" and t > refused)
    assert retried - refused >= 1.0
    assert not [path for t, path, _ in site.log if refused + 0.3 < t < refused + 0.95]

    table = read_table(tmp_path / "out" / "movies.csv")
    assert table.ids == done
    pulp = table.frame.set_index("imdb_id").loc["tt0110912"]
    assert (pulp["title"], pulp["year"], pulp["genres"]) == ("Pulp Fiction", 1994, ["Crime", "Drama"])
    assert pulp["description"].startswith("The lives of two mob hitmen, a boxer,")
    matrix = table.frame.set_index("imdb_id").loc["tt9000001"]  # from __NEXT_DATA__ alone
    assert matrix["genres"] == ["Action", "Sci-Fi"] and matrix["description"].startswith("When a beautiful stranger")
    posters = tmp_path / "out" / "posters"
    assert sorted(p.name for p in posters.iterdir()) == sorted(f"{i}.jpg" for i in done)  # no temporaries
    for poster in table.posters:
        assert load_image(poster).size == (64, 96)


def test_the_next_data_fixture_parses(shared_data):
    text = (shared_data / "fixtures" / "imdb_next_data" / "tt0133093.next_data.json").read_text(encoding="utf-8")
    page = parse_title_page(f'<script id="__NEXT_DATA__" type="application/json">{text}</script>')
    assert (page.kind, page.is_movie, page.year, page.genres) == ("Movie", True, 1999, ("Action", "Sci-Fi"))
    assert page.poster_url.startswith(IMDB_MEDIA) and page.description.endswith("evil cyber-intelligence.")


# -- synthetic pages ---------------------------------------------------------------------------------------------

def test_page_parsing_reads_graphs_entities_and_fills_gaps_from_next_data():
    ld = {"@graph": [{"@type": "BreadcrumbList"}, {
        "@type": ["Movie"], "name": "Tom &amp; Jerry", "image": [{"url": "/poster.jpg"}], "genre": "Comedy",
        "description": "Tom &amp; Jerry is a movie starring Samuel L. Jackson and Tom. A cat &apos;chases&apos; a mouse.",
        "actor": [{"@type": "Person", "name": "Samuel L. Jackson"}, {"@type": "Person", "name": "Tom"}]}]}
    page = parse_title_page(f'<script type="application/ld+json">{json.dumps(ld)}</script>')
    assert (page.kind, page.is_movie, page.title, page.genres) == ("Movie", True, "Tom & Jerry", ("Comedy",))
    assert (page.description, page.poster_url, page.year) == ("A cat 'chases' a mouse.", "/poster.jpg", None)
    next_data = {"props": {"pageProps": {"aboveTheFoldData": {
        "titleType": {"id": "tvSeries", "text": "TV Series"}, "releaseYear": {"year": 1999},
        "plot": {"plotText": {"plainText": "From the other layout."}}}}}}
    both = parse_title_page(f'<script type="application/ld+json">{json.dumps({"@type": "Movie", "name": "X"})}</script>'
                            f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(next_data)}</script>')
    assert (both.kind, both.year, both.description) == ("Movie", 1999, "From the other layout.")  # JSON-LD's type wins
    assert parse_title_page('<script type="application/ld+json">{not json</script><p>hi</p>') is None


def test_requests_per_second_never_exceed_the_rate(site, tmp_path, monkeypatch):
    ids = add_synthetic(site, 14)
    rate = 10.0
    starts, wait = [], RateLimiter.wait

    async def timed(limiter):
        await wait(limiter)
        starts.append(time.monotonic())

    monkeypatch.setattr(RateLimiter, "wait", timed)
    scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "out",
           ScrapeSettings(base_url=site.base_url, rate=rate, concurrency=4, **FAST))
    arrivals = sorted(t for t, _, _ in site.log)
    assert len(arrivals) == len(starts) == 2 + 14 + 12  # two robots.txt, the pages, the posters of the 12 movies
    # Every request leaves at least 1/rate after the one before, across the four workers: no 1-second window holds
    # more than `rate` of them. Timed where they leave: the server's clock adds a busy machine's thread jitter (a
    # window there held 11 while the whole suite ran beside other work).
    assert min(later - earlier for earlier, later in itertools.pairwise(starts)) >= 1 / rate


def test_killed_mid_run_then_resumed_equals_an_uninterrupted_run(site, tmp_path):
    ids = add_synthetic(site, 24)
    site.add_faults(ids[1])
    ids += list(FAULTS)
    movies = movies_csv(tmp_path / "in.csv", ids)
    common = ["--base-url", site.base_url, "--timeout", FAST["timeout"], "--max-tries", FAST["max_tries"],
              "--backoff", FAST["backoff"]]
    scrape(movies, tmp_path / "reference", ScrapeSettings(base_url=site.base_url, rate=200, **FAST))

    killed = tmp_path / "killed"
    process = subprocess.Popen(cli("scrape", movies, "--out", killed, "--rate", "20/s", "--concurrency", 3, *common),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while sum(s[0] == "done" for s in statuses(killed).values()) < 8:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    at_kill = statuses(killed)
    assert sum(s[0] == "pending" for s in at_kill.values()) > 0  # it really was killed mid-run
    mark = len(site.log)

    resumed = subprocess.run(cli("scrape", movies, "--out", killed, "--rate", "200/s", *common),
                             check=False, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert (killed / "movies.csv").read_bytes() == (tmp_path / "reference" / "movies.csv").read_bytes()
    reference_posters = {p.name: p.read_bytes() for p in (tmp_path / "reference" / "posters").iterdir()}
    assert {p.name: p.read_bytes() for p in (killed / "posters").iterdir()} == reference_posters
    assert {i: s[:2] for i, s in statuses(killed).items()} == {i: s[:2] for i, s in statuses(tmp_path / "reference").items()}
    finished = [i for i, s in at_kill.items() if s[0] != "pending"]
    assert finished and not [i for i in finished if site.requests_for(i, since=mark)]  # nothing done was refetched
    assert "done 22 (22 with a poster), failed 6, skipped 4, pending 0" in resumed.stdout


def test_a_finished_run_fetches_nothing_and_retry_failed_retries(site, tmp_path):
    ids = add_synthetic(site, 3) + ["tt9000404"]
    movies = movies_csv(tmp_path / "in.csv", ids)
    settings = ScrapeSettings(base_url=site.base_url, rate=200, **FAST)
    first = scrape(movies, tmp_path / "out", settings)
    assert (first.done, dict(first.failed), dict(first.skipped)) == (2, {"http 404": 1}, {"not a movie: TVSeries": 1})
    mark = len(site.log)
    scrape(movies, tmp_path / "out", settings)
    assert len(site.log) == mark
    scrape(movies, tmp_path / "out", ScrapeSettings(base_url=site.base_url, rate=200, retry_failed=True, **FAST))
    assert [path for _, path, _ in site.log[mark:] if path.startswith("pages/title")] == ["pages/title/tt9000404/"]
    assert statuses(tmp_path / "out")["tt9000404"] == ("failed", "http 404", 2)


def test_robots_txt_that_cannot_be_read_keeps_the_crawler_out(site, tmp_path):
    ids = add_synthetic(site, 2)
    site.robots = None
    summary = scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "out",
                     ScrapeSettings(base_url=site.base_url, rate=200, **FAST))
    assert dict(summary.failed) == {"robots.txt unreachable": 2}
    assert [path for _, path, _ in site.log] == ["pages/robots.txt"] * FAST["max_tries"]  # never a title page


def test_options_and_one_line_errors(tmp_path, monkeypatch, capsys):
    assert (parse_rate("2/s"), parse_rate("30/min"), parse_rate("0.5"), parse_rate("7200/h")) == (2, 0.5, 0.5, 2)
    assert parse_retry_after("7") == 7 and parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert 50 < parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) <= 60
    for bad in ({"rate": 0}, {"concurrency": 0}, {"base_url": "ftp://example.org"}, {"timeout": -1}):
        with pytest.raises(ConfigError):
            ScrapeSettings(**bad)
    ScrapeSettings(concurrency=MAX_CONCURRENCY)
    for name, value, top in (("max_tries", 101, 100), ("timeout", 601, 600), ("max_retry_after", 86401, 86400),
                             ("max_bytes", 2**40, 33554432)):  # waits and memory bounded
        with pytest.raises(ConfigError, match=rf", {top}\]$"):
            ScrapeSettings(**{name: value})
    with pytest.raises(ConfigError, match=rf"^--concurrency {MAX_CONCURRENCY + 1}: give a whole number in "
                                          rf"\[1, {MAX_CONCURRENCY}\]$"):
        ScrapeSettings(concurrency=MAX_CONCURRENCY + 1)
    for name, value in (("timeout", math.nan), ("timeout", math.inf), ("max_retry_after", math.inf),
                        ("backoff", math.nan), ("max_backoff", math.inf)):
        with pytest.raises(ConfigError, match=rf"^--{name.replace('_', '-')} (nan|inf): give in [\[(]0, \d+\]$"):
            ScrapeSettings(**{name: value})
    movies = movies_csv(tmp_path / "in.csv", ["tt0000001"])
    for args, message in ((["scrape", tmp_path / "missing.csv", "--out", tmp_path / "o"], "no such file"),
                          (["scrape", movies, "--out", tmp_path / "o", "--rate", "fast"], "--rate 'fast' is not a rate"),
                          (["scrape", movies, "--out", tmp_path / "o", "--base-url", "imdb.com"], "--base-url"),
                          # A worker per title in flight: 10^8 of them took 3.75 GB and never finished.
                          (["scrape", movies, "--out", tmp_path / "o", "--concurrency", "100000000"],
                           f"--concurrency 100000000: give a whole number in [1, {MAX_CONCURRENCY}]"),
                          (["scrape", movies, "--out", tmp_path / "o", "--max-bytes", "0"],
                           "--max-bytes 0: give a whole number in [1, 33554432]"),
                          (["scrape", movies, "--out", tmp_path / "o", "--max-backoff", "99999"],
                           "--max-backoff 99999.0: give in [0, 3600]")):
        monkeypatch.setattr(sys, "argv", ["moviegenre", *map(str, args)])
        with pytest.raises(SystemExit) as exit_:
            run()
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "o").exists()  # refused before any work


def test_every_setting_is_a_command_line_option(tmp_path, monkeypatch, capsys):
    # The README names each bounded setting by its option: each must reach the scraper from the command line.
    from types import SimpleNamespace

    from moviegenre.cli import acquire

    given = {"rate": "5/s", "concurrency": 3, "base_url": "http://127.0.0.1:9", "timeout": 7.0, "max_tries": 2,
             "backoff": 0.5, "max_backoff": 5.0, "max_retry_after": 9.0, "max_bytes": 1000, "user_agent": "probe/1"}
    assert set(given) | {"retry_failed"} == set(ScrapeSettings.__dataclass_fields__)
    options = [str(item) for name, value in given.items() for item in (f"--{name.replace('_', '-')}", value)]
    seen = []
    summary = SimpleNamespace(done=0, with_poster=0, no_poster=Counter(), failed=Counter(), skipped=Counter(),
                              pending=0)
    monkeypatch.setattr(acquire, "scrape", lambda movies, out, settings, **_: seen.append(settings) or summary)
    monkeypatch.setattr(sys, "argv", ["moviegenre", "scrape", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"),
                                      *options, "--retry-failed"])
    with pytest.raises(SystemExit) as exit_:
        run()
    assert exit_.value.code == 0
    assert seen == [ScrapeSettings(**{**given, "rate": 5.0}, retry_failed=True)]
    assert "done 0 (0 with a poster)" in capsys.readouterr().out


# -- hostile pages and sites (issue 12) ----------------------------------------------------------------------------

def ld_page(data: object) -> str:
    return f'<html><head><script type="application/ld+json">{json.dumps(data)}</script></head></html>'


def test_a_deeply_nested_page_fails_its_title_and_the_others_are_written(site, tmp_path):
    ids = add_synthetic(site, 3)
    deep = "[" * 200_000
    site.add_page("tt9100001", f'<script type="application/ld+json">{deep}</script>')
    site.add_page("tt9100002", f'<script id="__NEXT_DATA__" type="application/json">{{"props": {deep}</script>')
    movies = movies_csv(tmp_path / "in.csv", [*ids, "tt9100001", "tt9100002"])
    summary = scrape(movies, tmp_path / "out", ScrapeSettings(base_url=site.base_url, rate=200, **FAST))
    assert (summary.done, dict(summary.failed)) == (2, {"no metadata": 2})
    assert read_table(tmp_path / "out" / "movies.csv").ids == [ids[1], ids[2]]


def test_absurd_json_ld_values_are_validated_deduplicated_and_capped(site, tmp_path):
    from moviegenre.acquisition.pages import MAX_DESCRIPTION_CHARS

    page = parse_title_page(ld_page({"@type": "Movie", "name": "Fine", "genre": ["Drama"] * 200_000 + ["Crime", 7],
                                     "description": "x" * 50_000, "image": {"url": {"a": 1}}}))
    assert (page.title, page.genres, page.poster_url) == ("Fine", ("Drama", "Crime"), "")
    assert len(page.description) == MAX_DESCRIPTION_CHARS
    assert parse_title_page(ld_page({"@type": "Movie", "name": {"a": 1}, "description": ["a"]})) is None
    assert parse_title_page(ld_page({"@type": "Movie", "name": "N", "genre": ["G" * 60, "Drama"]})).genres == ("Drama",)
    for graph in (None, 1, True, "Movie"):  # an @graph that is not a list: no object in it, the rest still read
        assert parse_title_page(ld_page({"@type": "Movie", "name": "G", "@graph": graph})).title == "G"
    assert parse_title_page(ld_page({"@graph": {"@type": "Movie", "name": "One"}})).title == "One"

    site.add_page("tt9100003", ld_page({"@type": "Movie", "name": "Many", "genre": ["Drama"] * 2_000_000}))
    scrape(movies_csv(tmp_path / "in.csv", ["tt9100003"]), tmp_path / "out",
           ScrapeSettings(base_url=site.base_url, rate=200, **FAST))
    row = read_table(tmp_path / "out" / "movies.csv").frame.iloc[0]
    assert (row["title"], row["genres"]) == ("Many", ["Drama"])
    assert (tmp_path / "out" / "movies.csv").stat().st_size < 1000


def test_data_inspect_flags_rows_no_real_movie_has(tmp_path, monkeypatch, capsys):
    from conftest import run_moviegenre

    path = tmp_path / "movies.csv"
    path.write_text("imdb_id,title,genres,description\n"
                    "tt0000001,Fine,Drama|Crime,A story.\n"
                    f"tt0000002,Twice,{'|'.join(f'Genre{i}' for i in range(1000))},A story.\n"
                    f"tt0000003,{'T' * 600},Drama,{'word ' * 21_000}\n", encoding="utf-8")
    code, out, _ = run_moviegenre(monkeypatch, capsys, "data", "inspect", path)
    assert code == 0
    assert f"{path}: row 2, field 'genres': 1,000 genres, over the 30 limit" in out
    assert f"{path}: row 3, field 'title': 600 characters, over the 500 limit" in out
    assert f"{path}: row 3, field 'description': 104,999 characters, over the 100,000 limit" in out
    assert "row 1" not in out


def test_a_long_retry_after_is_capped_logged_and_fails_the_title(site, tmp_path, caplog):
    ids = add_synthetic(site, 3)
    site.answers["tt9100429"] = Response("come back in an hour", status=429, headers={"Retry-After": "3600"})
    movies = movies_csv(tmp_path / "in.csv", ["tt9100429", *ids])
    started = time.monotonic()
    summary = scrape(movies, tmp_path / "out",
                     ScrapeSettings(base_url=site.base_url, rate=200, concurrency=1, max_retry_after=0.5, **FAST))
    assert time.monotonic() - started < 10
    assert (summary.done, dict(summary.failed)) == (2, {"retry-after too long": 1})
    assert site.requests_for("tt9100429") == 1  # not retried in this run; --retry-failed fetches it later
    assert "asks to wait 3600 s (Retry-After); pausing every request 0.5 s (--max-retry-after)" in caplog.text
    refused = next(t for t, _, status in site.log if status == 429)
    assert min(t for t, _, _ in site.log if t > refused) - refused >= 0.5  # the pause did apply, capped


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_crawl_writes_the_table_of_finished_titles(site, tmp_path, stop):
    ids = add_synthetic(site, 3)
    site.answers["tt9100429"] = Response("come back in an hour", status=429, headers={"Retry-After": "3600"})
    movies = movies_csv(tmp_path / "in.csv", [*ids, "tt9100429", "tt1000010"])
    out = tmp_path / "out"
    # A test run started in the background (`pytest &`) ignores SIGINT, and a crawl it starts would inherit that:
    # the crawl gets Ctrl-C's default, as from a terminal (a handler, unlike SIG_IGN, is not inherited).
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(cli("scrape", movies, "--out", out, "--rate", "200/s", "--concurrency", 1,
                                       "--base-url", site.base_url, "--timeout", FAST["timeout"]),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    deadline = time.monotonic() + 30
    while not any(status == 429 for _, _, status in site.log):  # the crawl now waits (up to 300 s by default)
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(stop)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "asks to wait 3600 s (Retry-After); pausing every request 300 s" in err
    assert read_table(out / "movies.csv").ids == [ids[1], ids[2]]


def test_a_page_nested_deep_is_read_in_linear_time():
    # Each <div> cost the HTML parser time in proportion to the depth: 150,000 of them (750 KB) took minutes.
    movie = ld_page({"@type": "Movie", "name": "Deep"})
    started = time.monotonic()
    assert parse_title_page(movie + "<div>" * 150_000).title == "Deep"
    for hostile in ("<script>" * 500_000, "<!--" * 500_000, "<script>{}</script>" * 50_000 + "<script"):
        assert parse_title_page(hostile) is None
    assert time.monotonic() - started < 2
    # Only scripts are read, but as the HTML parser sees them: not in a comment, ended by the first </script>.
    old = ld_page({"@type": "Movie", "name": "Commented out"})
    assert parse_title_page(f"<!-- {old} --><!--> {movie}").title == "Deep"
    assert parse_title_page(movie.replace("</script>", "</SCRIPT >")).title == "Deep"


def test_stacked_encodings_fail_the_title_unread_and_one_layer_is_read(site, tmp_path):
    ids = add_synthetic(site, 2)
    # Gzip in gzip: 10 MB of zeros sent as 10 KB, then decoded a whole layer at a time, past any --max-bytes.
    site.answers["tt9100010"] = Response(gzip(gzip(b"\0" * 10_000_000)), content_type="text/html",
                                         headers={"Content-Encoding": "gzip, gzip"})
    site.answers["tt9100011"] = Response(gzip(site.pages[ids[1]]), content_type="text/html",
                                         headers={"Content-Encoding": "identity, gzip"})
    summary = scrape(movies_csv(tmp_path / "in.csv", [ids[1], "tt9100010", "tt9100011"]), tmp_path / "out",
                     ScrapeSettings(base_url=site.base_url, rate=200, max_bytes=1_000_000, **FAST))
    assert (summary.done, dict(summary.failed)) == (2, {"unsupported encoding": 1})
    assert site.requests_for("tt9100010") == 1  # the same answer next time: not retried


def test_an_unreadable_retry_after_is_ignored_and_the_request_retried(site, tmp_path):
    assert parse_retry_after("²") is None and parse_retry_after("٣") is None  # digits to str.isdigit(), not to HTTP
    ids = add_synthetic(site, 2)
    site.answers["tt9100429"] = Response("slow down", status=429, headers={"Retry-After": "²"})
    settings = ScrapeSettings(base_url=site.base_url, rate=200, **FAST)
    summary = scrape(movies_csv(tmp_path / "in.csv", [ids[1], "tt9100429"]), tmp_path / "out", settings)
    assert (summary.done, dict(summary.failed)) == (1, {"http 429": 1})
    assert site.requests_for("tt9100429") == FAST["max_tries"]
    site.robots = Response("slow down", status=429, headers={"Retry-After": "²"})
    other = scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "other", settings)
    assert dict(other.failed) == {"robots.txt unreachable": 2}


def test_a_malformed_poster_url_keeps_its_title_without_a_poster_as_a_bad_url(site, tmp_path):
    ids = add_synthetic(site, 2)
    # A port out of range and a space in the host were "unexpected error" and "robots.txt unreachable" (retried).
    bad = ("http://[::1", "http://127.0.0.1:port/p.jpg", "http://127.0.0.1:99999/p.jpg", "http://127.0.0.1:-1/p.jpg",
           "http://exa mple.com/p.jpg")
    for number, poster in enumerate(bad, start=1):
        site.add_page(f"tt910000{number}", ld_page({"@type": "Movie", "name": "Bad poster", "image": poster}))
    ids += [f"tt910000{number}" for number in range(1, len(bad) + 1)]
    summary = scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "out",
                     ScrapeSettings(base_url=site.base_url, rate=200, **FAST))
    # It was "unexpected error", then the whole title failed as "poster: bad url", its page's genres lost.
    assert (summary.done, summary.with_poster, dict(summary.failed)) == (6, 1, {})
    assert summary.no_poster == {"no poster: bad url": 5}
    assert statuses(tmp_path / "out")["tt9100001"][:2] == ("done", "no poster: bad url")


def test_a_poster_that_answers_404_keeps_its_title_and_a_5xx_one_fails_it_for_a_retry(site, tmp_path, monkeypatch,
                                                                                       capsys):
    # The title failed whole, its description and genres lost, on an answer the next run would get again.
    from conftest import run_moviegenre

    ids = add_synthetic(site, 2)
    for imdb_id, folder in (("tt9100404", "missing"), ("tt9100500", "flaky")):
        site.add_page(imdb_id, ld_page({"@type": "Movie", "name": f"Poster {folder}", "genre": ["Drama", "Crime"],
                                        "description": "A story.", "image": f"{site.media_url}/{folder}/p.jpg"}))
    ids += ["tt9100404", "tt9100500"]
    out = tmp_path / "out"
    code, stdout, err = run_moviegenre(monkeypatch, capsys, "scrape", movies_csv(tmp_path / "in.csv", ids), "--out",
                                       out, "--base-url", site.base_url, "--rate", "200/s", "--timeout",
                                       FAST["timeout"], "--max-tries", FAST["max_tries"], "--backoff", FAST["backoff"])
    assert code == 0, err
    assert "done 2 (1 with a poster), failed 1, skipped 1, pending 0" in stdout
    assert "  done: no poster: http 404: 1\n" in stdout and "  failed: poster: http 500: 1\n" in stdout
    state = statuses(out)
    assert (state["tt9100404"][:2], state["tt9100500"][:2]) == (("done", "no poster: http 404"),
                                                                ("failed", "poster: http 500"))
    media = Counter(path for _, path, _ in site.log if path.startswith("media/"))
    assert (media["media/missing/p.jpg"], media["media/flaky/p.jpg"]) == (1, FAST["max_tries"])  # 404: not retried
    row = read_table(out / "movies.csv").frame.set_index("imdb_id").loc["tt9100404"]
    assert (row["title"], row["genres"], row["description"], row["poster"]) == ("Poster missing", ["Drama", "Crime"],
                                                                                "A story.", "")
    # --retry-failed tries the poster again; a try that fails keeps the title done, with what it had.
    retry = ["scrape", movies_csv(tmp_path / "in.csv", ids), "--out", out, "--base-url", site.base_url, "--rate",
             "200/s", "--timeout", FAST["timeout"], "--max-tries", FAST["max_tries"], "--backoff", FAST["backoff"],
             "--retry-failed"]
    site.answers["tt9100404"] = Response("server trouble", status=500)
    code, stdout, err = run_moviegenre(monkeypatch, capsys, *retry)
    assert code == 0 and site.requests_for("tt9100404") == 1 + FAST["max_tries"], err
    assert statuses(out)["tt9100404"][:2] == ("done", "no poster: http 404")
    assert read_table(out / "movies.csv").frame.set_index("imdb_id").loc["tt9100404", "description"] == "A story."
    del site.answers["tt9100404"]
    site.add_page("tt9100404", ld_page({"@type": "Movie", "name": "Poster missing", "genre": ["Drama", "Crime"],
                                        "description": "A story.", "image": f"{site.media_url}/found/p.jpg"}))
    code, stdout, err = run_moviegenre(monkeypatch, capsys, *retry)
    assert code == 0 and statuses(out)["tt9100404"][:2] == ("done", ""), err
    assert read_table(out / "movies.csv").frame.set_index("imdb_id").loc["tt9100404", "poster"]


def test_which_poster_failures_a_later_run_would_meet_again():
    from moviegenre.acquisition.fetch import FetchError

    def lasting(reason, status=None, retryable=False):
        return FetchError(reason, "", status=status, retryable=retryable).lasting

    assert lasting("http 404", 404) and lasting("http 403", 403) and lasting("bad url")
    # A 408 is a timeout the server told; a body over --max-bytes is this run's limit, which the next may raise.
    assert not any([lasting("http 408", 408), lasting("too large"), lasting("http 503", 503), lasting("http 429", 429),
                    lasting("timeout", retryable=True), lasting("robots.txt unreachable")])


def test_a_user_agent_that_is_no_header_or_a_rate_of_years_is_one_line(tmp_path, monkeypatch, capsys):
    from conftest import run_moviegenre

    for agent in ("é", "probe/1\r\nX-Injected: 1", "probe/1\n", "tab\there", " "):
        with pytest.raises(ConfigError, match="^--user-agent .*: give printable ASCII text"):
            ScrapeSettings(user_agent=agent)
    with pytest.raises(ConfigError, match=r"^--rate 0.0005: give 0.001 or more$"):
        ScrapeSettings(rate=0.0005)
    assert parse_rate("3.6/h") == pytest.approx(0.001)
    movies = movies_csv(tmp_path / "in.csv", ["tt0000001"])
    for option, value, message in (
            ("--user-agent", "é", ("--user-agent 'é': give printable ASCII text (letters, digits, punctuation, "
                                   "spaces; no accents, tabs or line breaks) that says who you are")),
            ("--user-agent", "a\r\nb", "--user-agent 'a\\r\\nb': give printable ASCII text"),
            # 0.001 an hour waited 3.6 billion seconds between requests
            ("--rate", "0.001/h", ("--rate '0.001/h' is not a rate of 0.001 or more requests per second (use "
                                   "e.g. 2/s, 30/min or 1000/h; the slowest is 3.6/h)"))):
        code, stdout, err = run_moviegenre(monkeypatch, capsys, "scrape", movies, "--out", tmp_path / "o",
                                           option, value)
        assert (code, stdout) == (2, "") and err.startswith(f"error: {message}") and err.count("\n") == 1, err
        assert not (tmp_path / "o").exists()


def test_an_unexpected_error_on_one_title_fails_only_that_title(site, tmp_path, monkeypatch):
    from moviegenre.acquisition import scraper

    ids = add_synthetic(site, 3)
    parse = scraper.parse_title_page

    def fragile(text: str):
        if "Movie 2" in text:
            raise RecursionError("maximum recursion depth exceeded")
        return parse(text)

    monkeypatch.setattr(scraper, "parse_title_page", fragile)
    summary = scrape(movies_csv(tmp_path / "in.csv", ids), tmp_path / "out",
                     ScrapeSettings(base_url=site.base_url, rate=200, **FAST))
    assert (summary.done, dict(summary.failed)) == (1, {"unexpected error": 1})
    assert statuses(tmp_path / "out")[ids[2]][:2] == ("failed", "unexpected error")
    assert read_table(tmp_path / "out" / "movies.csv").ids == [ids[1]]
