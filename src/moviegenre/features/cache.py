"""Embeddings computed once per (encoder, content) and reused across runs.

One SQLite file per encoder, keyed by the SHA-1 of the poster's bytes or the description's text: a renamed
poster hits the cache, an edited one misses it. Each batch is committed in one transaction, so an interrupted
run loses at most the batch in flight and never leaves a half-written vector.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from moviegenre.data.images import read_image_file
from moviegenre.errors import ConfigError

# Bump when preprocessing changes, so stale vectors are never mixed with new ones.
CACHE_VERSION = 1


def cache_root() -> Path:
    return Path(os.environ.get("MOVIEGENRE_CACHE", Path.home() / ".cache" / "moviegenre"))


def content_key(data: bytes | str) -> str:
    return hashlib.sha1(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


class FeatureCache:
    """A persistent ``key -> float32 vector`` store for one encoder (``text``: ``key -> str``, for text read off
    posters)."""

    def __init__(self, encoder_name: str, text: bool = False) -> None:
        self.text = text
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)[-60:]
        if slug != encoder_name:  # local-path encoders: keep names unique after slugging
            slug += "-" + content_key(encoder_name)[:8]
        self.path = cache_root() / "features" / f"{slug}.v{CACHE_VERSION}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
            chunk = unique[start: start + 900]
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})",
                                    chunk)
            found.update((key, blob.decode() if self.text else np.frombuffer(blob, dtype=np.float32))
                         for key, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray | str]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                                 [(k, v.encode() if self.text else np.asarray(v, dtype=np.float32).tobytes())
                                  for k, v in items.items()])


def cached_values(keys: Sequence[str], cache: FeatureCache | None, compute, *, desc: str, unit: str,
                  progress: bool, chunk: int = 512) -> dict:
    """Each distinct non-empty key's value: cached ones read, the rest computed (``compute(keys) -> values``) a chunk
    at a time and stored after each chunk (an interrupted run keeps what it finished)."""
    found = cache.get_many([k for k in keys if k]) if cache is not None else {}
    todo = list(dict.fromkeys(k for k in keys if k and k not in found))
    with tqdm(total=len(todo), desc=desc, unit=unit, disable=not progress or not todo) as bar:
        for start in range(0, len(todo), chunk):
            batch = todo[start: start + chunk]
            new = dict(zip(batch, compute(batch)))
            if cache is not None:
                cache.put_many(new)
            found.update(new)
            bar.update(len(batch))
    return found


def _cached(keys: list[str], encoder, cache: FeatureCache | None, compute, *, what: str, progress: bool) -> np.ndarray:
    """Vectors for ``keys`` ("" = missing input -> zeros): cached ones read, the rest computed and stored.

    ``encoder`` may be an ``EncoderRef``: it is built (or its ONNX export loaded) only when something is left to
    encode. ``compute(encoder, keys)`` encodes a chunk of keys (without a bar of its own: the step has one, ``what``).
    """
    @functools.cache
    def fast():
        # ONNX Runtime on a CPU (same vectors, cosine >= 0.999, several times faster; exported once per machine).
        from moviegenre.features.fast import fast_encoder

        return fast_encoder(encoder)

    found = cached_values(keys, cache, lambda batch: compute(fast(), batch), desc=f"embedding {what}s ({encoder.name})",
                          unit=what, progress=progress)
    out = np.zeros((len(keys), encoder.dim), dtype=np.float32)
    for row, key in enumerate(keys):
        if key:
            if found[key].shape != (encoder.dim,):  # a fitted model's encoder says the width the model was trained on
                raise other_width(encoder.name, found[key].size, encoder.dim)
            out[row] = found[key]
    return out


def other_width(name: str, given: int, expected: int) -> ConfigError:
    """A model whose saved parameters name an encoder of another width than the one it was trained with."""
    return ConfigError(f"encoder '{name}' gives {given}-d vectors where the model reads {expected}-d ones: its "
                       "model.json names another encoder than it was trained with (retrain or restore the run)")


def file_keys(paths: Sequence[str | bytes]) -> tuple[list[str], dict[str, str | bytes]]:
    """Each poster's content key ("" for none) and, per key, one of the posters (a path or bytes) that has it."""
    keys, path_of = [], {}
    for path in paths:
        if not path:
            keys.append("")
            continue
        key = content_key(path if isinstance(path, bytes) else read_image_file(path))
        path_of.setdefault(key, path)
        keys.append(key)
    return keys, path_of


def embed_posters(paths: Sequence[str | bytes], encoder, *, use_cache: bool = True, progress: bool = True
                  ) -> np.ndarray:
    """(n, dim) poster embeddings of image files (paths, or their bytes); rows whose path is "" stay zero."""
    keys, path_of = file_keys(paths)
    cache = FeatureCache(encoder.name) if use_cache else None
    return _cached(keys, encoder, cache, lambda enc, batch: enc.encode_files([path_of[k] for k in batch], progress=False),
                   what="poster", progress=progress)


def embed_texts(texts: Sequence[str], encoder, *, use_cache: bool = True, progress: bool = True,
                what: str = "description") -> np.ndarray:
    """(n, dim) embeddings of descriptions (or of other texts, ``what``: the progress bar's word); rows whose text is
    "" stay zero."""
    keys, text_of = [], {}
    for text in texts:
        key = content_key(text) if text else ""
        text_of.setdefault(key, text)
        keys.append(key)
    cache = FeatureCache(encoder.name) if use_cache else None
    return _cached(keys, encoder, cache, lambda enc, batch: enc.encode_texts([text_of[k] for k in batch], progress=False),
                   what=what, progress=progress)
