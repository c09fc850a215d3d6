"""Posters/s and descriptions/s of a plain PyTorch loop, the encoders' own methods and the fast path, on real data.

Samples posters and descriptions from ``../shared/data/movies.csv``, warms the paths up, then times them in
alternating rounds on the same inputs (the machine is shared: each path's best round is reported, and the load
average beside it). ``plain`` is the loop the speed aim is set against (PyTorch eager, batches of 64, posters
decoded in the main process, texts in the given order); ``library`` is what the plain encoders do themselves
(threaded decoding; sentence-transformers sorts texts by length); ``fast`` is features/fast.py. Also prints the
lowest cosine between the fast path's vectors and the others' over all items.
The encoders timed are EfficientNet-Lite0 and MiniLM unless named (``--image-encoder``, ``--text-encoder``).
``--holdout`` times the packaged model's encoders instead and also scores that model on the test rows of the
seed-0 split twice, once from each path's vectors (several minutes: the plain path is slow), and prints both
micro-F1s.

    python benchmarks/embed_speed.py [--posters 256] [--descriptions 512] [--rounds 2] [--holdout]
    python benchmarks/embed_speed.py --image-encoder efficientnet-lite0+lite2+flip --text-encoder mpnet-l11
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.images import load_image
from moviegenre.features.encoders import image_encoder, text_encoder
from moviegenre.features.fast import fast_encoder


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def best_rate(encode, items: list[str], rounds: int) -> tuple[float, np.ndarray]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        vectors = encode(items)
        times.append(time.perf_counter() - start)
    return len(items) / min(times), vectors


@torch.inference_mode()
def eager_posters(encoder, paths: list[str], batch_size: int = 64) -> np.ndarray:
    """The plain loop the speed aim is set against: batches of 64, each poster decoded in the main process."""
    return np.concatenate([encoder.encode_images([load_image(p) for p in paths[i: i + batch_size]])
                           for i in range(0, len(paths), batch_size)])


@torch.inference_mode()
def eager_texts(encoder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """The same for descriptions: batches of 64 in the given order, each padded to its longest text."""
    model, out = encoder.model, []
    for start in range(0, len(texts), batch_size):
        tokens = model.tokenizer(texts[start: start + batch_size], padding=True, truncation=True,
                                 max_length=model.max_seq_length, return_tensors="pt")
        out.append(model(dict(tokens))["sentence_embedding"].numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posters", type=int, default=256)
    parser.add_argument("--descriptions", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--image-encoder", default="efficientnet-lite0")
    parser.add_argument("--text-encoder", default="minilm")
    parser.add_argument("--holdout", action="store_true",
                        help="time the packaged model's encoders and compare its holdout micro-F1 from both paths")
    args = parser.parse_args()
    model = None
    if args.holdout:  # its networks read its own encoders' vectors
        from moviegenre.models.base import load_run_model

        model = load_run_model(None)[0]
        args.image_encoder, args.text_encoder = model.image_encoder, model.text_encoder

    movies = pd.read_csv(DATA / "movies.csv", keep_default_na=False)
    rng = np.random.default_rng(0)
    posters = [str(DATA / p) for p in rng.permutation(movies.poster[movies.poster != ""])[: args.posters]]
    texts = list(rng.permutation(movies.description[movies.description != ""])[: args.descriptions])

    cases = [("posters", image_encoder(args.image_encoder), posters, "encode_files", eager_posters),
             ("descriptions", text_encoder(args.text_encoder), texts, "encode_texts", eager_texts)]
    print(f"encoders: {args.image_encoder}, {args.text_encoder}; load average before: {os.getloadavg()[0]:.2f}; "
          f"torch threads: {torch.get_num_threads()}")
    print("plain = a PyTorch eager loop (batches of 64, decoding in the main process, texts in the given order);\n"
          "library = the plain encoder's own method (threaded decode; sentence-transformers sorts texts by length)")
    for label, plain, items, method, eager in cases:
        start = time.perf_counter()
        fast = fast_encoder(plain)
        setup = time.perf_counter() - start
        paths = {"plain": lambda xs, e=plain, f=eager: f(e, xs),
                 "library": lambda xs, e=plain, m=method: getattr(e, m)(xs, progress=False),
                 "fast": lambda xs, e=fast, m=method: getattr(e, m)(xs, progress=False)}
        for encode in paths.values():  # warm-up: first-call allocations and kernel choices
            encode(items[:16])
        rates, vectors = {}, {}
        for _ in range(args.rounds):  # alternate, so a burst of load on the machine hits both paths
            for name, encode in paths.items():
                rate, vectors[name] = best_rate(encode, items, 1)
                rates[name] = max(rates.get(name, 0.0), rate)
        print(f"{label:<12} n={len(items):<4} plain {rates['plain']:6.1f}/s  library {rates['library']:6.1f}/s  "
              f"fast {rates['fast']:6.1f}/s  ratio {rates['fast'] / rates['plain']:5.2f}x "
              f"({rates['fast'] / rates['library']:.2f}x the library)  "
              f"min cosine {min(min_cosine(vectors['plain'], vectors['fast']), min_cosine(vectors['library'], vectors['fast'])):.6f}"
              f"  (fast setup {setup:.1f} s; load {os.getloadavg()[0]:.2f})")
    if model is not None:
        holdout(model, [(label, plain, method) for label, plain, _, method, _ in cases])


def holdout(model, cases: list[tuple[str, object, str]]) -> None:
    """Micro-F1 of the packaged ``model`` on the seed-0 test rows, fed each path's vectors."""
    from moviegenre.data.genres import GenreEncoder
    from moviegenre.data.readers import read_table
    from moviegenre.data.splits import split_for
    from moviegenre.evaluation.metrics import micro_f1

    table = read_table(DATA / "movies.csv")
    labels = GenreEncoder().fit(table.genres).transform(table.genres)
    test = table.subset(split_for(table, labels, seed=0) == "test")
    test = test.subset(test.has_poster | test.has_description)
    truth = GenreEncoder.from_classes(model.genres_).transform(test.genres)
    scores = {}
    for path in ("plain", "fast"):
        features = {"has_poster": test.has_poster.astype(np.float32),
                    "has_description": test.has_description.astype(np.float32)}
        for modality, encoder, method in cases:
            encoder = encoder if path == "plain" else fast_encoder(encoder)
            rows, items = (test.has_poster, test.posters) if modality == "posters" \
                else (test.has_description, test.descriptions)
            vectors = np.zeros((len(test), encoder.dim), np.float32)
            vectors[rows] = getattr(encoder, method)([items[i] for i in np.flatnonzero(rows)], progress=False)
            features["poster" if modality == "posters" else "description"] = vectors
        probabilities = model.predict_from_features(features, test.descriptions)
        scores[path] = micro_f1(truth, probabilities >= model.thresholds_[None, :])
    print(f"holdout ({len(test)} test movies, packaged model, each row fed what it has): micro-F1 plain "
          f"{scores['plain']:.4f}, fast {scores['fast']:.4f}, difference {scores['fast'] - scores['plain']:+.4f}")


if __name__ == "__main__":
    run_benchmark(main)
