"""Train the model shipped inside the package, on the real data, and measure it on the held-out test rows.

    python scripts/build_default_model.py [--data ../shared/data/movies.csv] [--run runs/default]

Trains ``fusion-gmu`` (one member) with the default split (seed 0; 80/10/10, stratified), writes its weights (int8
matrices), genre vocabulary and thresholds into ``src/moviegenre/default_model/``, then scores the model as written
there on the test rows with a poster only, a description only, both and any, into ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from moviegenre.data.readers import read_table
from moviegenre.data.splits import GENRES_JSON, SPLIT_CSV, load_split
from moviegenre.evaluation.evaluate import score
from moviegenre.models.base import DEFAULT_MODEL_DIR, load_model
from moviegenre.training.pipeline import RUN_JSON, train

MODEL = "fusion-gmu"
# One member, not the registry's three, hidden size 192, not 256, word models of 3,000 terms, not 10,000, and two
# poster networks (EfficientNet-Lite0 and Lite2, as fusion-gmu-lite02), not three: the weights live in the repository
# and must stay under 2 MB (with two poster networks, hidden 256 made 2.55 MB; the third network's 1,280 more inputs
# would add about 0.5 MB; three members would be over 6 MB even in int8). A single member's scores move more from
# seed to seed than an ensemble's.
PARAMS = {"ensemble": 1, "tfidf_terms": 3000, "hidden": 192, "image_encoder": "efficientnet-lite0+lite2+flip"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "movies.csv"))
    parser.add_argument("--run", default="runs/default")
    args = parser.parse_args()

    train(args.data, MODEL, args.run, seed=0, progress=False, params=PARAMS).save(DEFAULT_MODEL_DIR, precision="int8")
    for name in (GENRES_JSON, RUN_JSON):
        shutil.copy(Path(args.run) / name, DEFAULT_MODEL_DIR / name)
    model = load_model(DEFAULT_MODEL_DIR)  # scored as shipped: int8 weights
    table = read_table(args.data)
    test = table.subset(load_split(Path(args.run) / SPLIT_CSV, table) == "test")
    scores = {}
    for use in ("poster", "description", "both", "any"):
        metrics, _, _ = score(model, test, use)
        scores[use] = {k: metrics[k] for k in ("n", "micro_f1", "macro_f1", "weighted_f1", "samples_f1", "map_macro")}
        print(f"test --use {use:<11} " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                   for k, v in scores[use].items()))
    (DEFAULT_MODEL_DIR / "metrics.json").write_text(json.dumps({"split": "test (seed 0, 10%)", "scores": scores},
                                                               indent=2) + "\n")
    print(f"wrote {DEFAULT_MODEL_DIR}")


if __name__ == "__main__":
    main()
