"""What the service bounds beneath its endpoints: how long a client may take to send a request, and how large it
may be.

Uvicorn waits for a request's headers and body as long as the client likes, so a few clients that open connections
and stall (or send a byte a minute) would hold them forever. ``DeadlineH11`` closes a connection whose request line
and headers have not all arrived ``HEADER_SECONDS`` after it opened (or after its previous answer); ``BodyLimit``
answers 408 to a body that stalls ``BODY_IDLE_SECONDS`` or is still arriving ``BODY_SECONDS`` after it began, and
413 to one over its byte limit.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import uvicorn
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_SECONDS = 15.0  # a request line and headers are a few hundred bytes
BODY_IDLE_SECONDS = 30.0  # no byte of the body for this long: the client has stalled
BODY_SECONDS = 180.0  # the service's 24 MiB at about 140 KB/s; a slower uplink should send a smaller poster
MAX_CONNECTIONS = 512  # open connections and running requests; a request beyond gets a 503


class DeadlineH11(H11Protocol):
    """Uvicorn's HTTP/1.1 protocol, closing a connection whose request headers are late (see the module), and
    answering a request beyond ``limit_concurrency`` with the service's JSON 503 (Uvicorn's own is plain text)."""

    header_seconds = HEADER_SECONDS
    max_concurrency: int | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Uvicorn answers its plain 503 where limit_concurrency is set; the limit is kept here instead, and ``app``
        # (which Uvicorn reads for each request) is the busy answer while it is reached.
        self.max_concurrency, self.limit_concurrency = self.limit_concurrency, None

    @property
    def app(self):
        limit = self.max_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            return JSONResponse({"detail": f"busy: {limit} connections are open; retry shortly"}, 503,
                                headers={"Retry-After": "1", "Connection": "close"})
        return self._app

    @app.setter
    def app(self, value) -> None:
        self._app = value

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline = None
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # a kept-alive connection gets the same time for its next request's headers

    def connection_lost(self, exc) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_seconds, self._headers_late)

    def _headers_late(self) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no complete request yet
            self.transport.close()


class BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes (by its Content-Length or as it streams in), 408 for one
    that stalls or takes too long (see the module)."""

    def __init__(self, app, limit: int, idle_seconds: float = BODY_IDLE_SECONDS,
                 total_seconds: float = BODY_SECONDS) -> None:
        self.app, self.limit = app, limit
        self.idle_seconds, self.total_seconds = idle_seconds, total_seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body over the {self.limit:,} byte limit (send a smaller poster or fewer items)"
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await JSONResponse({"detail": message}, 413)(scope, receive, send)
        received, complete, started = 0, False, time.monotonic()

        async def limited() -> dict:
            nonlocal received, complete
            if complete:  # the body is in: what is left to receive is the client's disconnect, whenever it comes
                return await receive()
            left = self.total_seconds - (time.monotonic() - started)
            try:
                event = await asyncio.wait_for(receive(), max(min(self.idle_seconds, left), 0.001))
            except TimeoutError:
                if left <= self.idle_seconds:
                    raise HTTPException(408, f"request body: still arriving after {self.total_seconds:.0f} s "
                                             f"({received:,} bytes; send a smaller poster)") from None
                raise HTTPException(408, f"request body: {received:,} bytes arrived, then nothing for "
                                         f"{self.idle_seconds:.0f} s (send the whole body without pausing)") from None
            received += len(event.get("body", b""))
            complete = event["type"] != "http.request" or not event.get("more_body", False)
            if received > self.limit:
                raise HTTPException(413, message)  # FastAPI passes HTTP errors raised while reading through
            return event

        await self.app(scope, limited, send)


@contextmanager
def background_server(app, http: type[H11Protocol] = DeadlineH11, start_seconds: float = 120,
                      limit_concurrency: int | None = None) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread, for as long as the block runs: its base URL (for
    the browser tests and the page's screenshots, which drive the real server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="warning", limit_concurrency=limit_concurrency))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"the service did not start in {start_seconds:.0f} s")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# The page's scripts and styles are files under /static (none inline; bars are sized through element.style, which a
# policy without 'unsafe-inline' allows), a picked poster is shown from a blob: URL and a heat map from a data: URL,
# and every request goes back to this service.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
# Swagger UI and ReDoc start from an inline script: PAGE_POLICY would leave these pages blank.
DOCS_PAGES = ("/docs", "/docs/oauth2-redirect", "/redoc")


_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"))
_PAGE_HEADERS = (*_HEADERS, (b"content-security-policy", PAGE_POLICY.encode()))


def security_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer for ``path`` carries (see ``SecurityHeaders``)."""
    return _HEADERS if path in DOCS_PAGES else _PAGE_HEADERS


class SecurityHeaders:
    """ASGI middleware: no answer is sniffed as another type or framed by another site, and no request from the page
    names it in a Referer; all but the API docs' pages also carry ``PAGE_POLICY``."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = security_headers(scope["path"])

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
