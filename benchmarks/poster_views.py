"""Which view of a poster reads best: fusion-gmu on poster features from different views, splits 1-3.

    python benchmarks/poster_views.py                                    # squash, letterbox, squash+mirror
    python benchmarks/poster_views.py --variants squash,top+middle+bottom --seeds 1
    python benchmarks/poster_views.py --encoder efficientnet-lite2 --variants squash,squash+flip
    python benchmarks/poster_views.py --encoder efficientnet-lite0+lite1+lite2+flip --ensemble 3 \
        --variants squash,squash+top+middle+bottom                       # today's networks, crops beside the poster

A 2:3 poster reaches EfficientNet-Lite0 as a 224x224 square (Lite2: 260x260). The views tried: ``squash`` (the
whole poster resized to the square: what the packaged encoder does), ``letterbox`` (aspect kept, black bars),
``flip`` (the mirror image, squashed), ``top``/``middle``/``bottom`` (square crops). Each view's vectors are
computed once through the ONNX fast path and kept in ``--work`` (one .npy per view); under a ``+flip`` encoder each
view is itself averaged with its mirror image. A variant reads the mean (or the concatenation) of its views'
vectors. Descriptions (and the text read off posters) use the model's own cached vectors, and the model has no title
and one member unless ``--ensemble`` says otherwise, so only the poster side changes. Prints micro/macro-F1 with
both inputs, a poster only and a description only, per split and the mean. ``squash+flip`` (mean) is what the
``efficientnet-lite0+flip`` encoder computes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from head_selection import compare_on_splits  # benchmarks/ is on the path when this runs as a script
from PIL import Image, ImageOps
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.images import load_image
from moviegenre.data.readers import read_table
from moviegenre.features.cache import embed_texts
from moviegenre.features.encoders import image_encoder, text_encoder
from moviegenre.features.fast import FastImageEncoder, fast_encoder
from moviegenre.models import create_model
from moviegenre.training.config import configure

USES = ("both", "poster", "description")


def view(image: Image.Image, kind: str, size: int) -> Image.Image:
    if kind == "squash":
        return image  # the encoder's own resize squashes it
    if kind == "letterbox":
        return ImageOps.pad(image, (size, size), Image.Resampling.BILINEAR, color=(0, 0, 0))
    if kind == "flip":
        return ImageOps.mirror(image)
    width, height = image.size
    side = min(width, height)
    top = {"top": 0, "middle": (height - side) // 2, "bottom": height - side}[kind]
    left = (width - side) // 2
    return image.crop((left, top, left + side, top + side)) if height >= width else image.crop((left, 0, left + side, height))


class ViewEncoder(FastImageEncoder):
    """The fast encoder's network on one view of each poster."""

    def __init__(self, fast: FastImageEncoder, kind: str) -> None:
        vars(self).update(vars(fast))
        self.kind = kind

    def _pixels(self, path: str) -> np.ndarray:
        return self.to_array(view(load_image(path), self.kind, self.image_size))


def view_vectors(table, encoder: str, kind: str, work: Path) -> np.ndarray:
    """(movies, dim) vectors of one view; zero rows without a poster."""
    path = work / f"{encoder}.{kind}.npy"
    rows = np.flatnonzero(table.has_poster)
    if not path.exists():
        started = time.perf_counter()
        vectors = ViewEncoder(fast_encoder(image_encoder(encoder)), kind).encode_files([table.posters[i] for i in rows], progress=True)
        np.save(path, vectors)
        print(f"{encoder} view {kind}: {len(rows)} posters in {time.perf_counter() - started:.0f} s", flush=True)
    vectors = np.load(path)
    out = np.zeros((len(table), vectors.shape[1]), np.float32)
    out[rows] = vectors
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="squash,letterbox,squash+flip",
                        help="comma-separated variants, each a '+'-joined list of views")
    parser.add_argument("--combine", choices=("mean", "concat"), default="mean")
    parser.add_argument("--encoder", default="efficientnet-lite0", help="efficientnet-lite0 or efficientnet-lite2")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--ensemble", type=int, default=1, help="members of each model (fusion-gmu has 3)")
    parser.add_argument("--work", default="runs/poster-views", help="where the views' vectors are kept")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    table = read_table(DATA / "movies.csv")
    row_of = {movie: row for row, movie in enumerate(table.ids)}
    # fusion-gmu's own description vectors: its poster network reads the posters' text through the same encoder
    descriptions = embed_texts(table.descriptions, text_encoder(create_model("fusion-gmu").text_encoder), progress=True)
    variants = args.variants.split(",")
    views = {kind: view_vectors(table, args.encoder, kind, work) for v in variants for kind in v.split("+")}

    def features_of(variant: str):
        parts = [views[kind] for kind in variant.split("+")]
        posters = np.mean(parts, axis=0) if args.combine == "mean" else np.hstack(parts)

        def features(movies, device="cpu", progress=True):
            rows = np.array([row_of[movie] for movie in movies.ids])
            has_poster, has_description = (movies.has_poster.astype(np.float32),
                                           movies.has_description.astype(np.float32))
            return {"poster": posters[rows] * has_poster[:, None], "has_poster": has_poster,
                    "description": descriptions[rows] * has_description[:, None], "has_description": has_description}
        return features

    def build(variant: str):
        def model(seed: int):
            model = create_model("fusion-gmu", ensemble=args.ensemble, title_weight=0.0)
            configure(model, seed, {"progress": False})
            model.features = features_of(variant)  # the view's vectors instead of the encoder's
            return model
        return model

    compare_on_splits(table, {f"{args.encoder} {variant}": build(variant) for variant in variants},
                      seeds=[int(seed) for seed in args.seeds.split(",")], uses=USES)


if __name__ == "__main__":
    run_benchmark(main)
