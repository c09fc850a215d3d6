"""How long the commands a new user types first take to answer: seconds until the first output line, in all,
and of CPU (user + system: what a busy shared machine inflates least).

Runs each command in a fresh process (through the console script's entry point), ``--rounds`` times in
alternation, with an empty cache each time, and prints the median of each. ``predict, encoders exported``
first runs one untimed ``predict`` of another description in that cache, as on a machine that has predicted
before: the encoders' ONNX exports are there, the new description's embedding is not.
``--src`` times another checkout's ``src`` folder (e.g. an older commit unpacked with ``git archive``) in the
same run, so that before/after numbers come from one machine state.

    python benchmarks/startup.py [--rounds 3] [--src OLD/src ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared_data import run_benchmark  # benchmarks/ is on the path when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
POSTER = ROOT / "examples" / "poster.png"
# What the console script runs (moviegenre._entry); a checkout older than it (--src OLD/src) runs the CLI's main.
ENTRY = ("import sys, importlib.util as util; sys.argv[0] = 'moviegenre'; "
         "name = 'moviegenre._entry' if util.find_spec('moviegenre._entry') else 'moviegenre.cli'; "
         "__import__(name, fromlist=['main']).main()")
COMMANDS = {
    "import moviegenre": ["-c", "import moviegenre"],
    "moviegenre --help": ["-c", ENTRY, "--help"],
    "moviegenre models": ["-c", ENTRY, "models"],
    "predict --poster missing.jpg": ["-c", ENTRY, "predict", "--poster", "missing.jpg", "--description", "x"],
    "predict (packaged model)": ["-c", ENTRY, "predict", "--poster", str(POSTER), "--description",
                                 "A detective hunts a killer through the evacuated city."],
}
# Commands timed after one untimed run of ``WARM_UP`` in the same cache.
WARM_UP = ["-c", ENTRY, "predict", "--poster", str(POSTER), "--description", "Two friends drive to the coast."]
COMMANDS["predict, encoders exported"] = COMMANDS["predict (packaged model)"]
WARMED = {"predict, encoders exported"}


def time_command(args: list[str], src: Path, warm: bool = False) -> tuple[float, float, float]:
    """(seconds to the first line on stdout or stderr, seconds to exit, CPU seconds) of one fresh process."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(src), "MOVIEGENRE_CACHE": cache}
        if warm:
            subprocess.run([sys.executable, *WARM_UP], env=env, capture_output=True, check=False)
        cpu = _children_cpu()
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        first = process.stdout.readline() and time.perf_counter() - start
        process.communicate()
        total = time.perf_counter() - start
    return (first or total), total, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, action="append", default=[], help="other src folders to time as well")
    args = parser.parse_args()
    sources = [*args.src, ROOT / "src"]
    times = {(src, name): [] for src in sources for name in COMMANDS}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            for src in sources:
                times[src, name].append(time_command(command, src, warm=name in WARMED))
    print(f"{args.rounds} rounds, median seconds (first output / exit / CPU); load average before "
          f"{load:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| command | " + " | ".join(str(src) for src in sources) + " |")
    print("|---|" + "---|" * len(sources))
    for name in COMMANDS:
        cells = []
        for src in sources:
            cells.append(" / ".join(f"{statistics.median(column):.2f}" for column in zip(*times[src, name])))
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_benchmark(main)
