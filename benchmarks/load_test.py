"""Load test for ``moviegenre serve``: N concurrent clients on loopback, for a bounded time, per input mix.

Each client sends ``POST /predict`` back to back (a closed loop) for ``--seconds``, then the next input mix
starts: poster only, description only, both. Reports requests/s, p50/p99 latency and errors per mix.
Only loopback URLs are accepted; every loop stops by time and by ``--max-requests``.

    moviegenre serve RUN_DIR --port 8000 &
    python benchmarks/load_test.py --url http://127.0.0.1:8000 --clients 8 --seconds 20 \\
        --table ../shared/data/movies.csv

Without ``--table`` it sends synthetic posters (drawn here) and a few sample descriptions.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import ipaddress
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

MIXES = ("poster", "description", "both")
SAMPLE_DESCRIPTIONS = [
    "A retired hitman is pulled back into the underworld when a gang kills the dog his late wife left him.",
    "Two strangers share one night in Vienna, talking until sunrise before their trains leave.",
    "A family moves into an old farmhouse where something in the cellar has been waiting for them.",
    "A rookie astronaut stranded on Mars must grow food and signal Earth before his supplies run out.",
]


def inputs_from_table(table: Path, limit: int) -> list[tuple[bytes, str]]:
    """(poster bytes, description) for the first ``limit`` movies that have both, from a shared-format CSV."""
    found = []
    with table.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            poster = table.parent / row.get("poster", "") if row.get("poster") else None
            if poster and poster.is_file() and row.get("description"):
                found.append((poster.read_bytes(), row["description"]))
            if len(found) == limit:
                break
    return found


def synthetic_inputs(count: int) -> list[tuple[bytes, str]]:
    """Poster-sized (300x450) JPEGs of random colour blocks, each with a sample description."""
    rng = np.random.default_rng(0)
    found = []
    for i in range(count):
        pixels = np.repeat(np.repeat(rng.integers(0, 255, (9, 6, 3), dtype=np.uint8), 50, 0), 50, 1)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="JPEG", quality=90)
        found.append((out.getvalue(), SAMPLE_DESCRIPTIONS[i % len(SAMPLE_DESCRIPTIONS)]))
    return found


def multipart(poster: bytes | None, description: str | None) -> tuple[bytes, str]:
    """A ready-made multipart body, so that the clients spend no CPU on encoding while timed."""
    boundary = uuid.uuid4().hex
    parts = []
    if poster is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="poster"; filename="poster.jpg"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + poster + b"\r\n")
    if description is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
                     f"{description}\r\n".encode())
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def run_mix(url: str, bodies: list[tuple[bytes, str]], clients: int, seconds: float,
                  max_requests: int) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    sent = 0

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        turn = index
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            body, content_type = bodies[turn % len(bodies)]
            turn += clients
            started = time.perf_counter()
            try:
                response = await http.post(url + "/predict", content=body, headers={"content-type": content_type})
                if response.status_code != 200:
                    key = f"HTTP {response.status_code}"
                    errors[key] = errors.get(key, 0) + 1
                    continue
            except httpx.HTTPError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "rps": len(latencies) / elapsed,
            "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
            "errors": sum(errors.values()), "error_kinds": errors}


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"error: {url}: the load test only targets loopback (127.0.0.1, localhost, ::1)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="Per input mix.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of untimed requests first.")
    parser.add_argument("--max-requests", type=int, default=20_000, help="Per input mix, a hard stop.")
    parser.add_argument("--table", type=Path, help="Shared-format CSV whose posters and descriptions to send.")
    parser.add_argument("--inputs", type=int, default=64, help="Distinct movies to cycle through.")
    parser.add_argument("--mix", choices=MIXES, action="append", help="Only these mixes (repeatable).")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    check_loopback(url)
    movies = inputs_from_table(args.table, args.inputs) if args.table else synthetic_inputs(args.inputs)
    if not movies:
        raise SystemExit(f"error: {args.table}: no movie with both a poster file and a description")
    print(f"{url}: {args.clients} clients, {args.seconds:.0f} s per mix, {len(movies)} distinct movies")
    print(f"{'mix':<12} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for mix in args.mix or MIXES:
        bodies = [multipart(poster if mix != "description" else None, text if mix != "poster" else None)
                  for poster, text in movies]
        if args.warmup > 0:
            await run_mix(url, bodies, args.clients, args.warmup, args.max_requests)
        result = await run_mix(url, bodies, args.clients, args.seconds, args.max_requests)
        print(f"{mix:<12} {result['requests']:>8} {result['rps']:>7.1f} {result['p50']:>8.1f} {result['p99']:>8.1f} "
              f"{result['errors']:>6}" + (f"  {result['error_kinds']}" if result["errors"] else ""))


if __name__ == "__main__":
    asyncio.run(main())
