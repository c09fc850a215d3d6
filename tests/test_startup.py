"""Commands start fast: importing moviegenre, --help, `models` and bad input load none of the heavy libraries
(each costs seconds on a 2-core machine; benchmarks/startup.py times the commands)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "transformers", "sentence_transformers", "onnxruntime", "ray", "matplotlib",
         "sklearn", "captum")
# Runs the console script's entry point, then prints which heavy modules the process had imported.
PROBE = """
import json, sys
from moviegenre.cli import run
sys.argv = ["moviegenre", *sys.argv[1:]]
try:
    run()
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "heavy": sorted(m for m in HEAVY if m in sys.modules)}))
""".replace("HEAVY", repr(HEAVY))


def probe(*args: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


def test_import_moviegenre_loads_no_heavy_library():
    code = f"import json, sys, moviegenre; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(("args", "expected_code", "says"), [
    (("--help",), 0, "Predict a movie's genres"),
    (("models",), 0, "fusion-gmu"),
    (("predict", "--poster", "missing.jpg", "--description", "x"), 2,
     "error: missing.jpg: cannot read (No such file or directory) (check the path)\n"),
    (("predict",), 2, "error: input: nothing to predict from"),
    (("predict", "--title", "Die Hard"), 2, ("error: input: nothing to predict from (give a poster, a description, or "
                                            "both (a title is read only beside them)")),
    (("predict", "--description", "Add a Plot »"), 2, "error: input: nothing to predict from"),
    (("train", "missing.csv"), 2, "error: missing.csv: no such file or folder (check the path)\n"),
])
def test_commands_answer_without_loading_heavy_libraries(args, expected_code, says):
    result, output = probe(*args)
    assert result["code"] in ((expected_code,) if expected_code else (0, None)), output
    assert says in output
    assert result["heavy"] == [], output


def test_predict_with_the_packaged_model_imports_no_transformers_once_the_encoders_are_exported(tmp_path):
    """The first ``predict`` exports the encoders to ONNX in the cache; later ones load those exports and never
    import transformers or sentence-transformers (seconds of a one-off prediction's wait)."""
    from conftest import draw_poster

    poster = str(draw_poster(tmp_path / "p.png", seed=1))
    runs = [probe("predict", "--poster", poster, "--description", f"A detective hunts a killer, take {take}.")
            for take in (1, 2)]
    assert all(result["code"] in (0, None) for result, _ in runs), runs
    assert not {"transformers", "sentence_transformers"} & set(runs[1][0]["heavy"]), runs[1][1]
