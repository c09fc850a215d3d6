"""Speed and peak memory of ``moviegenre imdb basics`` on a synthetic, full-size title.basics.tsv.

Generates a 12M-row file shaped like IMDb's (same columns, ``\\N`` nulls, literal quotes in titles, a type mix
where ~6% are movies, a few malformed rows) in a temporary folder, then runs the real command in a fresh
process per case and reports rows/s and that process's peak RSS. The file is deleted afterwards.

    python benchmarks/imdb_basics_speed.py [--rows 12000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from shared_data import run_benchmark  # benchmarks/ is on the path when this runs as a script

# Roughly IMDb's mix in 2024-2025: mostly TV episodes, ~6% feature films.
TYPES = {"tvEpisode": 0.70, "short": 0.09, "movie": 0.06, "video": 0.025, "tvSeries": 0.025, "tvMovie": 0.015,
         "tvSpecial": 0.005, "tvMiniSeries": 0.005, "videoGame": 0.004, "tvShort": 0.001, "tvPilot": 0.07}
GENRES = ["Drama", "Comedy", "Documentary", "Action", "Romance", "Thriller", "Crime", "Horror", "Adventure",
          "Family", "Animation", "Short", "Sci-Fi", "Fantasy", "Mystery", "Music", "Biography", "History", "Adult"]
COLUMNS = ("tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear", "endYear",
           "runtimeMinutes", "genres")
CHUNK = 1_000_000
QUOTE_STAND_IN = b"\x01"
MALFORMED = b"tt99999999\tmovie\ta row cut short\t0\n"  # one per chunk, as the real file has a few
# Runs the CLI and writes its peak RSS (KiB) to argv[1] at exit. VmHWM, not getrusage: a child's ru_maxrss
# starts from its parent's RSS at fork, so it would report this (large) generator process instead.
PEAK_PROBE = """
import atexit, sys
peak_file = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as status, open(peak_file, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(report)
sys.argv[0] = "moviegenre"
from moviegenre.cli import run
run()
"""


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    combos = [",".join(rng.choice(GENRES, size=rng.integers(1, 4), replace=False)) for _ in range(500)]
    with path.open("wb") as handle:
        handle.write(("\t".join(COLUMNS) + "\n").encode())  # Arrow would quote the header names
        for start in range(0, rows, CHUNK):
            table = _chunk(rng, start, min(CHUNK, rows - start), combos)
            buffer = pa.BufferOutputStream()
            options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
            pacsv.write_csv(table, buffer, options)
            # Arrow refuses bare quotes without quoting; IMDb writes them as they are, so swap them in after.
            handle.write(buffer.getvalue().to_pybytes().replace(QUOTE_STAND_IN, b'"'))
            handle.write(MALFORMED)


def _chunk(rng: np.random.Generator, start: int, n: int, combos: list[str]) -> pa.Table:
    number = pc.cast(pa.array(np.arange(start + 1, start + n + 1)), pa.string())
    ids = pc.binary_join_element_wise("tt", pc.utf8_lpad(number, 7, "0"), "")
    titles = pc.binary_join_element_wise("A Synthetic Title No. ", number, "")
    quoted = pc.binary_join_element_wise("The \x01", titles, "\x01 Story", "")
    titles = pc.if_else(pa.array(rng.random(n) < 0.02), quoted, titles)  # literal quotes, as in the real file

    def maybe_null(values: np.ndarray, share: float) -> pa.Array:
        return pc.if_else(pa.array(rng.random(n) < share), "\\N", pc.cast(pa.array(values), pa.string()))

    return pa.table({  # in COLUMNS order
        "tconst": ids,
        "titleType": pa.array(rng.choice(list(TYPES), size=n, p=list(TYPES.values()))),
        "primaryTitle": titles,
        "originalTitle": titles,
        "isAdult": pc.cast(pa.array((rng.random(n) < 0.01).astype(np.int8)), pa.string()),
        "startYear": maybe_null(rng.integers(1890, 2026, n), 0.1),
        "endYear": maybe_null(rng.integers(1950, 2026, n), 0.97),
        "runtimeMinutes": maybe_null(rng.integers(1, 240, n), 0.6),
        "genres": maybe_null(np.asarray(combos, dtype=object)[rng.integers(0, len(combos), n)], 0.1),
    })


def run_case(path: Path, out: Path, args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, summary line) of one ``imdb basics`` run in a fresh process."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        command = [sys.executable, "-c", PEAK_PROBE, peak.name, "imdb", "basics", str(path), "--out", str(out), *args]
        started = time.perf_counter()
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"imdb basics failed ({result.returncode}):\n{result.stderr}")
        return seconds, int(peak.read()) / 1024, result.stdout.splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=12_000_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="imdb-basics-bench-") as folder:
        path = Path(folder) / "title.basics.tsv"
        started = time.perf_counter()
        generate(path, rows)
        print(f"generated {rows:,} rows ({path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - started:.0f}s")
        for label, args in (("all years", []), ("2000-2010", ["--years", "2000-2010"])):
            seconds, peak, summary = run_case(path, Path(folder) / "movies.csv", args)
            print(f"{label:>10}: {seconds:6.1f}s  {rows / seconds:>12,.0f} rows/s  peak RSS {peak:,.0f} MiB"
                  f"  | {summary}")


if __name__ == "__main__":
    run_benchmark(main)
