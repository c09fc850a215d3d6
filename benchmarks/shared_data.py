"""Where the benchmarks find the shared real data: ``$MOVIEGENRE_SHARED_DATA``, else ``../shared/data`` beside the
project (benchmarks/ is on the path when a benchmark runs as a script)."""

import os
from pathlib import Path

DATA = Path(os.environ.get("MOVIEGENRE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
