"""Embeddings computed once per (encoder, content) and reused across runs.

One SQLite file per encoder, keyed by the SHA-1 of the poster's bytes or the description's text: a renamed
poster hits the cache, an edited one misses it. Each batch is committed in one transaction, so an interrupted
run loses at most the batch in flight and never leaves a half-written vector. An entry that does not read back as
what was stored (edited, damaged, not finite or absurdly large) is computed again; a file SQLite cannot use is one line naming it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from moviegenre.data.images import read_image_file
from moviegenre.errors import ConfigError, DataError, first_line

# Bump when preprocessing changes, so stale vectors are never mixed with new ones.
CACHE_VERSION = 1
# What is read off a poster (vectors, text) has its own: 2, a poster decoded near DRAFT_SIDE on every path, its
# transparent parts on white.
POSTER_CACHE_VERSION = 2
BUSY_SECONDS = 60  # how long to wait for another process's write to the same file
# No encoder's component comes near this (EfficientNet-Lite's ReLU6 features stay under 6, sentence vectors under 1):
# a stored vector beyond it was edited, and would swamp every head that reads it.
MAX_COMPONENT = 1e4
# How much of each large file of a local encoder's folder its fingerprint reads from either end: a weights file's
# header (names, shapes, offsets) and its first and last tensors differ between any two trained encoders.
FINGERPRINT_SAMPLE = 1 << 20


def cache_root() -> Path:
    return Path(os.environ.get("MOVIEGENRE_CACHE", Path.home() / ".cache" / "moviegenre"))


def content_key(data: bytes | str) -> str:
    return hashlib.sha1(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def local_folder(name: str) -> Path | None:
    """The local folder an encoder is read from (``clip:<folder>``, ``st:<folder>``, fine-tuned or not); None for a
    packaged encoder, whose name says its weights."""
    for prefix in ("clip:", "st:"):
        if name.startswith(prefix):
            return Path(name.removeprefix(prefix).split("+ft-")[0])
    return None


def local_model_files(name: str) -> list[str]:
    """``name:size:modification time`` of each file of a local encoder's folder (none for a packaged encoder). A
    folder replaced under the same name holds another encoder: its vectors and ONNX export are kept apart by these."""
    folder = local_folder(name)
    if folder is None:
        return []
    return [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(folder.rglob("*")) if p.is_file()]


def folder_fingerprint(name: str) -> str | None:
    """A digest of a local encoder's folder (None for a packaged encoder or a folder not there): each file's path in
    it, size and content (its first and last MiB where it is larger). Unlike modification times it survives a copy,
    so a model trained on a folder can tell, wherever it is used, whether the folder of that name holds its encoder."""
    folder = local_folder(name)
    if folder is None or not folder.is_dir():
        return None
    return _fingerprint(str(folder.resolve()), tuple(local_model_files(name)))


@functools.lru_cache(maxsize=16)
def _fingerprint(folder: str, files: tuple[str, ...]) -> str:
    """``files`` (names, sizes, modification times) only keys the memo: an edited folder is read again."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with path.open("rb") as file:
            digest.update(file.read(FINGERPRINT_SAMPLE))
            if size > FINGERPRINT_SAMPLE:
                file.seek(max(FINGERPRINT_SAMPLE, size - FINGERPRINT_SAMPLE))
                digest.update(file.read(FINGERPRINT_SAMPLE))
    return digest.hexdigest()[:16]


class FeatureCache:
    """A persistent ``key -> float32 vector`` store for one encoder, of its width ``dim`` (``dim`` None:
    ``key -> str``, for text read off posters).

    A cache that can be read but not written (a team's cache on a read-only mount) is read: what it lacks is
    computed each time and not stored.
    """

    def __init__(self, encoder_name: str, dim: int | None = None, version: int = CACHE_VERSION) -> None:
        self.dim = dim
        identity = "|".join([encoder_name, *local_model_files(encoder_name)])
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)[-60:]
        if slug != identity:  # local-path encoders: keep names unique after slugging, and apart per folder content
            slug += "-" + content_key(identity)[:8]
        self.path = cache_root() / "features" / f"{slug}.v{version}.sqlite"
        self.writable = _writable(self.path)
        with self._reporting():
            self._db = _open(self.path) if self.writable else _open_read_only(self.path)

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray | str]:
        """The usable values stored for ``keys``; a key whose entry is not (see ``_decoded``) is left out."""
        found = {}
        unique = list(dict.fromkeys(keys))
        with self._reporting():
            for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                chunk = unique[start: start + 900]
                rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})",
                                        chunk)
                found.update((key, value) for key, blob in rows if (value := self._decoded(blob)) is not None)
        return found

    def put_many(self, items: dict[str, np.ndarray | str]) -> None:
        if not self.writable:
            return
        with self._reporting(), self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                                 [(k, v.encode() if self.dim is None else np.asarray(v, dtype=np.float32).tobytes())
                                  for k, v in items.items()])

    def _decoded(self, blob) -> np.ndarray | str | None:
        """A stored value as ``put_many`` wrote it, or None for one it cannot have written (edited or damaged: of
        another type or length, not UTF-8, not finite, over ``MAX_COMPONENT``), which is then computed again and replaced."""
        if not isinstance(blob, bytes):
            return None
        if self.dim is None:
            with contextlib.suppress(UnicodeDecodeError):
                return blob.decode()
            return None
        if len(blob) != 4 * self.dim:
            return None
        vector = np.frombuffer(blob, dtype=np.float32)
        return vector if np.isfinite(vector).all() and np.abs(vector).max() <= MAX_COMPONENT else None

    @contextlib.contextmanager
    def _reporting(self):
        """SQLite's errors as one line naming the file: it is only a cache, deleting it is always safe."""
        try:
            yield
        except sqlite3.OperationalError as error:
            if not error.sqlite_errorname.startswith("SQLITE_BUSY"):
                raise self._unusable(error) from None
            raise DataError(self.path, f"another process has held the cache file for over {BUSY_SECONDS:g} s",
                            hint="let it finish, or set MOVIEGENRE_CACHE to another folder") from None
        except sqlite3.DatabaseError as error:
            raise self._unusable(error) from None

    def _unusable(self, error: sqlite3.DatabaseError) -> DataError:
        return DataError(self.path, f"unusable cache file ({first_line(error)})",
                         hint="delete it: what it held is computed again when next needed")


def _writable(path: Path) -> bool:
    """Whether the cache file ``path`` can be written (made, if new); a DataError where something is in its way."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return False
        raise DataError(path.parent, f"cannot make the cache folder ({error.strerror})",
                        hint="move away what is in its way, or set MOVIEGENRE_CACHE to another folder") from None
    if path.exists() and not path.is_file():
        raise DataError(path, "not a regular file, so not usable as the cache file", hint="move it away")
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _open(path: Path | str) -> sqlite3.Connection:
    """The cache file at ``path``, made if new."""
    db = sqlite3.connect(path, timeout=BUSY_SECONDS)
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            return db
        except sqlite3.OperationalError as error:
            # Changing the journal mode does not wait for another connection's lock as other statements do:
            # processes making the same fresh file at once would fail there.
            if not error.sqlite_errorname.startswith("SQLITE_BUSY") or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """The cache file at ``path``, read-only; an empty one in memory where there is none (nothing to read, nowhere to
    write). Reading a WAL-mode file takes a shared-memory file beside it; where SQLite cannot make one (a read-only
    folder or mount, where nobody changes the file) it is read as immutable."""
    if not path.exists():
        return _open(":memory:")
    uri = path.absolute().as_uri()
    try:
        return _reading(sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_SECONDS))
    except sqlite3.OperationalError:
        return _reading(sqlite3.connect(f"{uri}?immutable=1", uri=True))


def _reading(db: sqlite3.Connection) -> sqlite3.Connection:
    """``db``, once a first read shows that SQLite can read it and that it holds a cache."""
    db.execute("SELECT 1 FROM vectors LIMIT 1")
    return db


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
    cache = FeatureCache(encoder.name, encoder.dim, POSTER_CACHE_VERSION) if use_cache else None
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
    cache = FeatureCache(encoder.name, encoder.dim) if use_cache else None
    return _cached(keys, encoder, cache, lambda enc, batch: enc.encode_texts([text_of[k] for k in batch], progress=False),
                   what=what, progress=progress)
