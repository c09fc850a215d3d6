"""Where the benchmarks find the shared real data: ``$MOVIEGENRE_SHARED_DATA``, else ``../shared/data`` beside the
project (benchmarks/ is on the path when a benchmark runs as a script)."""

import os
import sys
from collections.abc import Callable
from pathlib import Path

from moviegenre.errors import MovieGenreError

DATA = Path(os.environ.get("MOVIEGENRE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def run_benchmark(main: Callable[[], None]) -> None:
    """``main()``, with the project's own errors (a missing table, an unknown model) one line and exit 2, as the CLI
    gives them: a benchmark is a command too."""
    try:
        main()
    except MovieGenreError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
