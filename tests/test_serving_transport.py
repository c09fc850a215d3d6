"""The service's bounds on slow clients (serving/transport.py), over real sockets: a client that stalls in its headers
is disconnected, one that stalls in (or trickles) its body gets a 408, and a prompt client is served as before."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, Request

from moviegenre.serving.transport import BodyLimit, DeadlineH11, background_server


class QuickDeadline(DeadlineH11):
    header_seconds = 0.5


@pytest.fixture(scope="module")
def address():
    """A small app behind BodyLimit (short waits) under uvicorn with the deadline protocol, on a loopback port."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    served = BodyLimit(app, limit=10_000, idle_seconds=1.0, total_seconds=2.0)
    with background_server(served, http=QuickDeadline) as address:
        yield urlsplit(address).hostname, urlsplit(address).port


def exchange(address, *parts: bytes, pause: float = 0.0) -> bytes:
    """Sends ``parts`` (``pause`` seconds apart), then reads until the server closes (at most 10 s)."""
    with socket.create_connection(address, timeout=10) as client:
        for part in parts:
            client.sendall(part)
            time.sleep(pause)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def post(body: bytes, length: int | None = None) -> bytes:
    return (b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "
            + str(len(body) if length is None else length).encode() + b"\r\n\r\n" + body)


def status_and_detail(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body).get("detail", "")


def test_a_prompt_request_is_served(address):
    assert status_and_detail(exchange(address, post(b"x" * 100)))[0] == 200


def test_headers_that_stall_are_cut_off(address):
    started = time.monotonic()
    assert exchange(address, b"POST /echo HTTP/1.1\r\nHost: x\r\n") == b""  # closed without an answer
    assert time.monotonic() - started < 5


def test_a_body_that_stalls_gets_408(address):
    status, detail = status_and_detail(exchange(address, post(b"x" * 10, length=1000)))
    assert status == 408
    assert "10 bytes arrived, then nothing" in detail


def test_a_body_that_trickles_past_the_total_gets_408(address):
    request = post(b"x" * 20)  # 7 of its 20 bytes, 0.25 s apart, then nothing: the total (2 s) runs out first
    status, detail = status_and_detail(exchange(address, request[:-20], *[b"x"] * 7, pause=0.25))
    assert status == 408
    assert "still arriving" in detail


def test_a_body_over_the_limit_gets_413(address):
    assert status_and_detail(exchange(address, post(b"x" * 10_001))) == (
        413, "request body over the 10,000 byte limit (send a smaller poster or fewer items)")


def test_a_request_beyond_the_connection_limit_gets_the_services_json_503():
    """Uvicorn's own answer was 'Service Unavailable' in plain text, with no Retry-After."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    with background_server(app, http=QuickDeadline, limit_concurrency=2) as url:
        address = urlsplit(url).hostname, urlsplit(url).port
        request = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert status_and_detail(exchange(address, request)) == (200, "")
        with socket.create_connection(address, timeout=10):  # a second connection, open: the limit is reached
            time.sleep(0.2)
            answer = exchange(address, request)
        assert status_and_detail(answer) == (503, "busy: 2 connections are open; retry shortly")
        assert b"\r\nretry-after: 1\r\n" in answer.lower()
        time.sleep(0.2)
        assert status_and_detail(exchange(address, request)) == (200, "")  # that connection closed: served again
