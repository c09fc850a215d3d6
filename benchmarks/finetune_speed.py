"""End-to-end fine-tuning on the real data: training throughput, and the score against frozen features.

    python benchmarks/finetune_speed.py --device cuda     # a GPU machine: all movies, 4 epochs (data: device_pack.py)
    python benchmarks/finetune_speed.py --device cpu --movies 1000 --epochs 1 --steps 6 --warmup 2   # what a CPU shows

1. Throughput: timed training steps (forward, backward, AdamW) of the end-to-end network (EfficientNet-Lite0 +
   MiniLM + GMU head) on batches of real movies, decoded by DataLoader workers; under bf16 autocast where
   ``train --finetune`` uses it (CUDA, a CPU with AMX). The first steps are warm-up and not timed. Prints
   posters/s and movies/s.
2. Score: ``--models`` trained on the same seeded split of the first ``--movies`` movies (0: all); test rows scored
   with both inputs, a poster only, a description only. By default ``fusion-gmu-squash`` (the fine-tuned model's
   encoders, frozen: its first stage with three members), ``fusion-gmu`` (the default, frozen) and
   ``fusion-gmu-finetune``. A GPU machine that cannot carry mpnet, Lite1/Lite2 and the OCR models leaves out
   ``fusion-gmu``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from shared_data import DATA, run_benchmark  # benchmarks/ is on the path when this runs as a script

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.evaluation.evaluate import score
from moviegenre.models import create_model
from moviegenre.models.finetune import EndToEndNet, RawInputs, autocast_bf16
from moviegenre.models.fusion_net import FusionNet
from moviegenre.training.config import configure


def throughput(table, labels, device: str, batch_size: int, steps: int, warmup: int) -> dict:
    model = create_model("fusion-gmu-finetune")
    poster, description = model.trainable_encoders(device)
    head = FusionNet(poster.dim, description.dim, labels.shape[1], hidden=model.hidden)
    net = EndToEndNet(head, poster, description, model.encoder_lr).to(device).train()
    data = RawInputs(table, labels, poster, description, model.max_tokens, augment=True)
    workers = min(8, os.cpu_count() or 1) if device == "cuda" else 0
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=data.collate,
                                         num_workers=workers, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(net.parameter_groups(), lr=model.head_lr)
    loss = torch.nn.BCEWithLogitsLoss()
    bf16 = autocast_bf16(device)
    posters = movies = timed = 0
    started = None
    for step, (inputs, target) in enumerate(loader):
        if step == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            started, posters, movies = time.perf_counter(), 0, 0
        inputs = {k: v.to(device) for k, v in inputs.items()}
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            value = loss(net(**inputs).float(), target.to(device))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        posters += int(inputs["has_poster"].sum())
        movies += len(target)
        timed += step >= warmup
        if step + 1 == warmup + steps:
            break
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"posters_per_s": posters / seconds, "movies_per_s": movies / seconds, "steps": timed,
            "batch_size": batch_size, "seconds": seconds, "precision": "bf16 autocast" if bf16 else "float32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] + " The movies are the shared data's "
                                     "(MOVIEGENRE_SHARED_DATA, else ../shared/data); the throughput is always "
                                     "fusion-gmu-finetune's.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--movies", type=int, default=0, help="first N movies of movies.csv (0: all)")
    parser.add_argument("--epochs", type=int, default=4, help="end-to-end epochs (after the head stage)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps")
    # On an H200, timing after 3 untimed steps read about half the rate that 20 or 30 did.
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first")
    parser.add_argument("--models", default="fusion-gmu-squash,fusion-gmu,fusion-gmu-finetune",
                        help="comma-separated models to train and score")
    args = parser.parse_args()
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    for name in names:
        create_model(name)  # an unknown name fails here, before any data is read

    table = read_table(DATA / "movies.csv")
    if args.movies:
        table = table.subset(np.arange(min(args.movies, len(table))))
    batches = -(-len(table) // args.batch_size)
    if args.warmup < 0 or args.steps < 1 or batches < args.warmup + args.steps:
        parser.error(f"{len(table):,} movies make {batches} batches of {args.batch_size}: give --warmup (≥ 0) and "
                     "--steps (≥ 1) that fit in them, or more --movies")
    encoder = GenreEncoder().fit(table.genres)
    labels = encoder.transform(table.genres)
    print(f"{len(table):,} movies, {len(encoder.classes_)} genres, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else f", load {os.getloadavg()[0]:.1f}"))

    rate = throughput(table, labels, args.device, args.batch_size, args.steps, args.warmup)
    print(f"training throughput: {rate['posters_per_s']:.1f} posters/s, {rate['movies_per_s']:.1f} movies/s "
          f"({rate['steps']} steps of {rate['batch_size']}, {rate['seconds']:.1f} s, "
          f"{rate['precision']})")

    splits = split_for(table, labels, seed=0)
    labelled = labels.sum(1) > 0
    train, validation = (splits == "train") & labelled, (splits == "validation") & labelled
    test = table.subset(splits == "test")
    for name in names:
        model = create_model(name)
        configure(model, 0, {"device": args.device, "progress": False})
        if "epochs" in model.get_params():
            model.set_params(epochs=args.epochs, batch_size=args.batch_size)
        started = time.perf_counter()
        model.fit(table.subset(train), labels[train], genres=encoder.classes_,
                  validation=(table.subset(validation), labels[validation]))
        seconds = time.perf_counter() - started
        scores = []
        for use in ("both", "poster", "description"):
            metrics, _, _ = score(model, test, use)
            scores.append(f"{use} {metrics['micro_f1']:.3f}/{metrics['macro_f1']:.3f} (n={metrics['n']})")
        print(f"{name:<20} trained in {seconds:6.1f} s; test micro/macro-F1: " + "; ".join(scores))


if __name__ == "__main__":
    run_benchmark(main)
