"""Polite HTTP for the scraper: robots.txt, one global rate limit, retries with backoff, hard timeouts.

Every request the scraper makes (robots.txt, pages, posters, redirects) goes through :class:`Fetcher`, so
the rate limit and robots.txt hold for all of them, not just for title pages.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
# Requests leave 5% further apart than the rate asks. They reach the server some milliseconds early or late,
# and with exact spacing a 1-second window there would catch one request more than the rate whenever the
# first of them came late; the margin absorbs up to 50 ms of such jitter.
SPACING_MARGIN = 1.05
# A site's Retry-After longer than this is announced in the log (a shorter one is routine).
ANNOUNCED_WAIT = 10.0

log = logging.getLogger(__name__)


class FetchError(Exception):
    """A request that gave no usable answer. ``reason`` is short and stable: failures are counted by it."""

    def __init__(self, reason: str, detail: str = "", *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.status = reason, detail, status
        self.retryable, self.retry_after = retryable, retry_after

    @property
    def lasting(self) -> bool:
        """Whether a later run would get the same answer: a 404 or a bad URL would; a timeout, a 408, a 5xx or a 429
        (its Retry-After too long included), a robots.txt that did not answer, or a body over this run's --max-bytes
        may not."""
        transient = self.retryable or self.status in (408, 429) or (self.status or 0) >= 500
        return not (transient or self.reason in ("robots.txt unreachable", "too large"))


class RateLimiter:
    """Starts requests at least ``1/rate`` seconds apart across all workers: a ceiling with no bursts."""

    def __init__(self, rate: float) -> None:
        self.interval = SPACING_MARGIN / rate
        self._next = 0.0
        self._lock = asyncio.Lock()  # FIFO: waiting workers go in the order they asked

    async def wait(self) -> None:
        async with self._lock:
            # A loop, not one sleep: defer() may push the next slot back while this one waits.
            while (delay := self._next - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self.interval

    def defer(self, seconds: float) -> None:
        """Hold every request back for ``seconds``: a site's Retry-After applies to the crawler, not one URL."""
        self._next = max(self._next, time.monotonic() + seconds)


class Fetcher:
    """GET with the crawler's manners; raises :class:`FetchError` for anything but a 2xx answer."""

    def __init__(self, *, user_agent: str, rate: float, concurrency: int, timeout: float, max_tries: int,
                 backoff: float, max_backoff: float, max_bytes: int, max_retry_after: float = 300.0) -> None:
        self.user_agent, self.timeout, self.max_bytes = user_agent, timeout, max_bytes
        self.max_retry_after = max_retry_after
        self.limiter = RateLimiter(rate)
        self._client = httpx.AsyncClient(headers={"User-Agent": user_agent}, timeout=timeout,
                                         follow_redirects=False,  # each hop is rate-limited and robots-checked
                                         limits=httpx.Limits(max_connections=concurrency))
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(max_tries), reraise=True,
            retry=retry_if_exception(lambda error: isinstance(error, FetchError) and error.retryable),
            wait=self._wait)
        self._backoff = wait_exponential_jitter(initial=backoff, max=max_backoff, jitter=backoff)
        self._robots: dict[str, asyncio.Task[RobotFileParser]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, check_robots: bool = True) -> bytes:
        """The body at ``url``, following redirects; every hop is checked against its site's robots.txt."""
        url = absolute_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            if check_robots:
                await self._check_robots(url)
            # A copy per call: a tenacity Retrying keeps its attempt state on itself, and workers interleave.
            body, location = await self._retrying.copy()(self._get_once, url)
            if location is None:
                return body
            url = absolute_url(location, base=url)
        raise FetchError("too many redirects", url)

    async def _get_once(self, url: str) -> tuple[bytes, str | None]:
        await self.limiter.wait()
        try:
            # httpx's timeout is per read; this one bounds the whole answer, so a trickle cannot stall a worker.
            async with asyncio.timeout(self.timeout), self._client.stream("GET", url) as response:
                status = response.status_code
                if status in REDIRECT_STATUSES and response.headers.get("location"):
                    return b"", response.headers["location"]
                if 200 <= status < 300:
                    return await self._read(response, url), None
                raise self._status_error(response, url)
        except (TimeoutError, httpx.TimeoutException):
            raise FetchError("timeout", f"no full answer from {url} within {self.timeout:g}s",
                             retryable=True) from None
        except httpx.HTTPError as error:
            raise FetchError("network error", f"{type(error).__name__} from {url}: {error}", retryable=True) from None

    async def _read(self, response: httpx.Response, url: str) -> bytes:
        codings = [c for c in response.headers.get_list("content-encoding", split_commas=True)
                   if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1:
            # httpx undoes each layer of a chunk whole before the size below is checked: one layer inflates a 64 KB
            # read at most 1,032-fold, but gzip inside gzip turned 1.7 KB into 2 GB at once. No real site stacks them.
            raise FetchError("unsupported encoding", f"{url} is compressed {len(codings)} times over "
                             f"(Content-Encoding: {', '.join(codings)}); only one layer is accepted")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError("too large", f"{url} is over {self.max_bytes:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(self, response: httpx.Response, url: str) -> FetchError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
        if retry_after is not None and retry_after > self.max_retry_after:
            # Still a pause for the whole crawler (the site asked for one), but a bounded one; this title fails
            # with the reason and a later --retry-failed run fetches it.
            log.warning("%s asks to wait %.0f s (Retry-After); pausing every request %g s (--max-retry-after) "
                        "and failing this title", url, retry_after, self.max_retry_after)
            self.limiter.defer(self.max_retry_after)
            return FetchError("retry-after too long", f"{url} asked for {retry_after:.0f} s, over the "
                              f"--max-retry-after {self.max_retry_after:g} s", status=status)
        if retry_after is not None:
            if retry_after >= ANNOUNCED_WAIT:
                log.warning("%s asks to wait %.0f s (Retry-After); pausing every request", url, retry_after)
            self.limiter.defer(retry_after)
        # 429 and 5xx are the server's trouble and pass; 404 and other 4xx will answer the same next time.
        return FetchError(f"http {status}", url, status=status, retryable=status == 429 or status >= 500,
                          retry_after=retry_after)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, FetchError) and error.retry_after is not None:
            return 0.0  # the limiter already holds every request back until Retry-After has passed
        return self._backoff(state)

    async def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = asyncio.create_task(self._load_robots(origin))
        robots = await self._robots[origin]
        if robots.disallow_all:
            raise FetchError("robots.txt unreachable", f"{origin}/robots.txt gave no answer; staying out")
        if not robots.can_fetch(self.user_agent, url):
            raise FetchError("robots.txt disallows", url)

    async def _load_robots(self, origin: str) -> RobotFileParser:
        robots = RobotFileParser(f"{origin}/robots.txt")
        try:
            body = await self.get(robots.url, check_robots=False)
        except FetchError as error:
            # RFC 9309: a 4xx robots.txt means there are no rules; a 5xx or no answer means crawl nothing.
            # 429 counts with the 5xx: a site that is shedding load is no site to start crawling.
            client_error = error.status is not None and 400 <= error.status < 500 and error.status != 429
            robots.allow_all, robots.disallow_all = client_error, not client_error
        else:
            robots.parse(body.decode("utf-8", "replace").splitlines())
            robots.modified()  # can_fetch() refuses everything while no fetch time is recorded
        return robots


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if re.fullmatch("[0-9]+", value):  # not str.isdigit(): "²" is a digit to it, and no number to float()
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def absolute_url(link: str, *, base: str = "") -> str:
    """``link`` (a poster's address, a redirect's Location) made absolute against ``base``, the page that gave it:
    an http(s) URL that httpx can request, or a FetchError "bad url"."""
    try:
        url = urljoin(base, link)
        parts = urlsplit(url)
        host_ok = parts.hostname and not any(c.isspace() for c in parts.hostname)  # "exa mple.com" failed robots.txt
        if parts.scheme in ("http", "https") and host_ok and parts.port != 0:  # .port raises on 99999 or -1
            httpx.URL(url)  # its own checks, which urllib does not make: control characters
            return url
    except (ValueError, httpx.InvalidURL):  # urllib's ValueError: "http://[::1" (a bracket left open), port 99999
        pass
    raise FetchError("bad url", link)
