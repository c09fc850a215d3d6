"""Fine-tune mpnet-l11's last layer on a split's training descriptions, cross-fitted, and read it in fusion-gmu.

    OMP_NUM_THREADS=2 python benchmarks/text_layer_crossfit.py --seeds 1,2,3

A layer fine-tuned on the training rows makes their description vectors better than a new movie's, and a head
trained on them leans on them. Cross-fitting embeds each half of the training rows by a layer fine-tuned on the
other half, and the validation and test rows by one fine-tuned on all training rows; `fusion-gmu` then reads those
vectors in place of the frozen `mpnet-l11` ones (poster texts keep the frozen encoder). The layer is trained under
a description-only MLP head (layer 3e-5, head 1e-3, best epoch on the validation rows' micro mAP), on mpnet's
layer-10 token states computed once (bf16 autocast where the CPU has AMX) and kept in memory, in batches of
descriptions of similar length. Prints benchmarks/head_selection.py's table for the variant and the time taken.

    OMP_NUM_THREADS=2 python benchmarks/text_layer_crossfit.py --seeds 1,2,3 --blend

With ``--blend`` nothing is cross-fitted: the layer and its head, fine-tuned on all training descriptions, are a
description model of their own, whose probabilities are blended into `fusion-gmu-no-refit`'s where the description
is the only input (weights 0-0.5); each blend's thresholds are tuned again on the validation rows' descriptions
alone, by the rule `fusion-gmu` tunes its own with. Prints test micro/macro-F1 and micro mAP per weight.
"""

from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch
from head_selection import compare_on_splits, variant
from shared_data import DATA, run_benchmark
from torch import nn

from moviegenre.data.genres import GenreEncoder
from moviegenre.data.readers import read_table
from moviegenre.data.splits import split_for
from moviegenre.features import encoders
from moviegenre.features.cache import cache_root, embed_texts
from moviegenre.models.finetune import autocast_bf16


def bf16():
    """bf16 autocast where it pays on this CPU (AMX), else nothing."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16("cpu"))


def layer10_states(texts: list[str], batch_size: int = 32):
    """Each text's token states after mpnet's first 10 layers (bf16, unpadded) and the model that made them."""
    sentence = encoders.text_encoder("mpnet-l11").model
    network, tokenizer = sentence[0].auto_model, sentence[0].tokenizer
    network.requires_grad_(False)  # only copies of layer 11 are trained
    order = np.argsort([len(t) for t in texts])
    states: list[torch.Tensor | None] = [None] * len(texts)
    started = time.perf_counter()
    with torch.no_grad(), bf16():
        for start in range(0, len(texts), batch_size):
            rows = order[start: start + batch_size]
            tokens = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                               max_length=sentence.max_seq_length, return_tensors="pt")
            hidden = network(**tokens, output_hidden_states=True).hidden_states[10]
            for row, h, mask in zip(rows, hidden, tokens["attention_mask"]):
                states[row] = h[mask.bool()].to(torch.bfloat16).clone()
    print(f"layer-10 token states of {len(texts)} descriptions: {time.perf_counter() - started:.0f} s", flush=True)
    return states, network


class TunedLayer(nn.Module):
    """mpnet's layer 11 on cached layer-10 states -> the normalised mean of its token states (the encoder's vector)."""

    def __init__(self, network) -> None:
        super().__init__()
        self.layer = copy.deepcopy(network.encoder.layer[10]).requires_grad_(True)
        self.dim = network.config.hidden_size
        self.position_bias = network.encoder.compute_position_bias  # frozen: the encoder is not a submodule

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        padded = nn.utils.rnn.pad_sequence([s.float() for s in states], batch_first=True)
        mask = nn.utils.rnn.pad_sequence([torch.ones(len(s)) for s in states], batch_first=True)
        additive = (1.0 - mask)[:, None, None, :] * -1e4
        out = self.layer(padded, additive, self.position_bias(padded))[0].float()
        pooled = (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return nn.functional.normalize(pooled, dim=-1)

    def predict_proba(self, states, texts: np.ndarray) -> np.ndarray:
        """The fine-tuned head's probabilities for ``texts`` (indices into ``states``)."""
        with torch.no_grad():
            return torch.sigmoid(self.head((self.embed_all(states, texts) - self.mean) / self.std)).numpy()

    def embed_all(self, states, texts: np.ndarray) -> torch.Tensor:
        """Vectors of ``texts`` (indices into ``states``), batched by length, in their given order."""
        out = torch.zeros(len(texts), self.dim)
        with torch.no_grad(), bf16():
            for rows in batches(np.array([len(states[i]) for i in texts]), 128, None):
                out[torch.from_numpy(rows)] = self([states[i] for i in texts[rows]]).float()
        return out


def batches(lengths: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Row batches of similar length (shuffled within and across batches when ``rng`` is given)."""
    order = np.argsort(lengths + (rng.random(len(lengths)) * 8 if rng is not None else 0), kind="stable")
    chunks = [order[i: i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(chunks)
    return chunks


def fine_tune(network, states, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *,
              seed: int, epochs: int = 15, patience: int = 2, batch_size: int = 32) -> TunedLayer:
    """The layer tuned on ``train`` (text indices, label rows) under a description-only head, best epoch on ``val``."""
    from sklearn.metrics import average_precision_score

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tuned = TunedLayer(network)
    (train_texts, train_labels), (val_texts, val_labels) = train, val
    n_genres = train_labels.shape[1]
    start_vectors = tuned.embed_all(states, train_texts)
    mean, std = start_vectors.mean(0), start_vectors.std(0) + 1e-6
    head = nn.Sequential(nn.Linear(tuned.dim, 512), nn.ReLU(), nn.Dropout(0.3), nn.Linear(512, n_genres))
    positives = train_labels.sum(0).clip(1)
    pos_weight = torch.tensor(((len(train_labels) - positives) / positives) ** 0.35, dtype=torch.float32)
    optimizer = torch.optim.AdamW([{"params": tuned.layer.parameters(), "lr": 3e-5},
                                   {"params": head.parameters(), "lr": 1e-3}], weight_decay=0.01)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    lengths = np.array([len(states[i]) for i in train_texts])
    best, best_state, waited = -math.inf, None, 0
    for epoch in range(epochs):
        started = time.perf_counter()
        tuned.train(), head.train()
        for rows in batches(lengths, batch_size, rng):
            with bf16():
                logits = head((tuned([states[i] for i in train_texts[rows]]) - mean) / std)
            loss = loss_fn(logits.float(), torch.from_numpy(train_labels[rows]).float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        tuned.eval(), head.eval()
        with torch.no_grad():
            scores = torch.sigmoid(head((tuned.embed_all(states, val_texts) - mean) / std)).numpy()
        score = average_precision_score(val_labels, scores, average="micro")
        print(f"    epoch {epoch + 1}: validation micro mAP {score:.4f} ({time.perf_counter() - started:.0f} s)",
              flush=True)
        if score > best:
            best, best_state, waited = score, copy.deepcopy((tuned.layer.state_dict(), head.state_dict())), 0
        else:
            waited += 1
            if waited > patience:
                break
    tuned.layer.load_state_dict(best_state[0])
    head.load_state_dict(best_state[1])
    tuned.head, tuned.mean, tuned.std = head.eval(), mean, std  # for --blend: the layer and head as one model
    return tuned.eval()


class LookupEncoder:
    """A text encoder whose vectors were computed beforehand; other texts (poster texts) by the frozen mpnet-l11."""

    device = "cpu"
    model = ()  # not exportable: features/fast.py uses it as is

    def __init__(self, name: str, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.vectors = name, vectors
        self.dim = len(next(iter(vectors.values())))

    def encode_texts(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        missing = [t for t in texts if t not in self.vectors]
        frozen = dict(zip(missing, embed_texts(missing, encoders.text_encoder("mpnet-l11"), progress=False))) \
            if missing else {}
        return np.stack([self.vectors[t] if t in self.vectors else frozen[t] for t in texts]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--data", default=str(DATA / "movies.csv"))
    parser.add_argument("--blend", action="store_true",
                        help="blend the fine-tuned layer and head into fusion-gmu-no-refit instead (no cross-fitting)")
    args = parser.parse_args()
    table = read_table(args.data)
    genre_encoder = GenreEncoder().fit(table.genres)
    labels = genre_encoder.transform(table.genres).astype(np.float32)
    texts = sorted({d for d in table.descriptions if d})
    index = {t: i for i, t in enumerate(texts)}
    states, network = layer10_states(texts)
    row_text = np.array([index.get(d, -1) for d in table.descriptions])
    described = (row_text >= 0) & (labels.sum(1) > 0)

    def crossfit_model(seed: int):
        started = time.perf_counter()
        splits = split_for(table, labels, seed=seed)
        train = np.flatnonzero(described & (splits == "train"))
        val = np.flatnonzero(described & (splits == "validation"))
        halves = np.random.default_rng(seed).permutation(train)
        halves = (halves[: len(halves) // 2], halves[len(halves) // 2:])
        vectors: dict[str, np.ndarray] = {}
        everyone = fine_tune(network, states, (row_text[train], labels[train]), (row_text[val], labels[val]), seed=seed)
        others = np.array(sorted(set(range(len(texts))) - set(row_text[train])))
        for t, v in zip(others, everyone.embed_all(states, others).numpy()):
            vectors[texts[t]] = v
        for fitted, embedded in (halves, halves[::-1]):
            tuned = fine_tune(network, states, (row_text[fitted], labels[fitted]), (row_text[val], labels[val]),
                              seed=seed)
            for t, v in zip(row_text[embedded], tuned.embed_all(states, row_text[embedded]).numpy()):
                vectors[texts[t]] = v
        name = f"mpnet-l11-crossfit-seed{seed}"
        encoders.TEXT_ENCODERS[name] = lambda device, name=name: LookupEncoder(name, vectors)
        print(f"  seed {seed}: three fine-tuned layers in {time.perf_counter() - started:.0f} s", flush=True)
        return variant({"text_encoder": name}, seed, "fusion-gmu")

    if args.blend:
        blend(table, labels, genre_encoder.classes_, states, network, row_text, described,
              [int(s) for s in args.seeds.split(",")])
        return
    remove_crossfit_caches()
    try:
        compare_on_splits(table, {"fusion-gmu, cross-fitted layer 11": crossfit_model},
                          seeds=[int(s) for s in args.seeds.split(",")])
    finally:
        remove_crossfit_caches()


def blend(table, labels: np.ndarray, genres: np.ndarray, states, network, row_text: np.ndarray, described: np.ndarray,
          seeds: list[int], weights: tuple[float, ...] = (0.0, 0.15, 0.25, 0.35, 0.5)) -> None:
    """``--blend``: see the module's docstring."""
    from sklearn.metrics import average_precision_score, f1_score

    from moviegenre.evaluation.metrics import micro_f1, tune_thresholds

    labelled = labels.sum(1) > 0
    results: dict[float, list[tuple[float, float, float]]] = {w: [] for w in weights}
    for seed in seeds:
        splits = split_for(table, labels, seed=seed)
        train, validation = (splits == "train") & labelled, (splits == "validation") & labelled
        model = variant({"refit": False}, seed, "fusion-gmu")  # the validation rows must stay unseen
        model.fit(table.subset(train), labels[train], genres=genres,
                  validation=(table.subset(validation), labels[validation]))
        alone = {part: np.flatnonzero(described & (splits == part)) for part in ("train", "validation", "test")}
        tuned = fine_tune(network, states, *((row_text[alone[part]], labels[alone[part]]) for part in ("train", "validation")),
                          seed=seed)
        # The validation and test rows' labels, and the model's and the fine-tuned head's probabilities of their
        # descriptions given alone.
        (y_val, p_val, q_val), (y_test, p_test, q_test) = (
            (labels[rows], model.predict_proba(table.subset(rows).with_inputs("description")),
             tuned.predict_proba(states, row_text[rows]))
            for rows in (alone["validation"], alone["test"]))
        for w in weights:
            thresholds = tune_thresholds(y_val, (1 - w) * p_val + w * q_val, fallback=model.thresholds_)
            blended = (1 - w) * p_test + w * q_test
            predicted = blended >= thresholds
            results[w].append((micro_f1(y_test, predicted), f1_score(y_test, predicted, average="macro", zero_division=0),
                               average_precision_score(y_test, blended, average="micro")))
            print(f"seed {seed}  weight {w:.2f}: description {results[w][-1][0]:.3f}/{results[w][-1][1]:.3f}, "
                  f"micro mAP {results[w][-1][2]:.3f}", flush=True)
    print("\nmean over splits (description alone: micro/macro-F1, micro mAP):")
    for w, rows in results.items():
        mean = np.mean(rows, axis=0)
        print(f"  weight {w:.2f}: {mean[0]:.3f}/{mean[1]:.3f}, {mean[2]:.3f}")


def remove_crossfit_caches() -> None:
    """The cross-fitted vectors belong to one split of one run: their feature caches never outlive it."""
    for path in (cache_root() / "features").glob("mpnet-l11-crossfit-seed*"):
        path.unlink()


if __name__ == "__main__":
    run_benchmark(main)
