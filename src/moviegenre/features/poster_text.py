"""Text read off a poster (OCR): title, tagline and cast names, a derived input of the poster.

    >>> from moviegenre.features.poster_text import read_poster_texts
    >>> read_poster_texts(["poster.jpg"])   # e.g. ['WHOOPI GOLDBERG BURGLAR']

RapidOCR (``rapidocr-onnxruntime``: PP-OCRv4 detection and recognition, weights inside the wheel, ONNX Runtime).
Posters are read at most 480 px on their longer side and without the text-direction classifier: on the shared
224-px posters that took 0.2 s a poster on one core of a busy machine, against 0.76 s at the library's defaults
(the shorter side scaled up to 736 px), and read the same titles. Texts are cached per poster content, like
embeddings, so a poster is read once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from moviegenre.data.images import load_poster
from moviegenre.errors import ConfigError
from moviegenre.features.cache import POSTER_CACHE_VERSION, FeatureCache, cached_values, file_keys

# The cache's name: change it when the reader's settings change, so that old texts are not mixed with new ones.
READER = "rapidocr-max480"
SCORE = 0.5  # RapidOCR's own confidence floor for a line of text


class PosterTextReader:
    """One OCR engine; ``read`` is safe to call from several threads (each thread gets its own engine)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._local = threading.local()

    def _engine(self):
        engine = getattr(self._local, "engine", None)
        if engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise ConfigError("reading poster text needs: pip install rapidocr-onnxruntime") from None
            engine = RapidOCR(det_limit_type="max", det_limit_side_len=480, use_cls=False, text_score=SCORE,
                              intra_op_num_threads=self.threads, inter_op_num_threads=1)
            self._local.engine = engine
        return engine

    def read(self, image) -> str:
        """The lines of text found on a decoded RGB poster, joined by spaces ("" when there are none)."""
        lines, _ = self._engine()(image)
        return " ".join(line[1] for line in lines or [])


@lru_cache(maxsize=1)
def poster_text_reader() -> PosterTextReader:
    return PosterTextReader()


@lru_cache(maxsize=1)
def reading_threads() -> ThreadPoolExecutor:
    """The threads that read poster text, for tables and for the web service: they live as long as the process, so
    each keeps its OCR engine (0.3 s to build, one thread each) from call to call."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="moviegenre-poster-text")


def read_poster_texts(posters: Sequence[str | bytes], *, use_cache: bool = True, progress: bool = False) -> list[str]:
    """The text on each poster (a path or the image's bytes; "" for none), read once per poster content."""
    keys, source = file_keys(posters)
    reader = poster_text_reader()

    def read(key: str) -> str:
        poster = source[key]
        return reader.read(load_poster(poster, name=None if isinstance(poster, bytes) else str(poster)))

    found = cached_values(keys, FeatureCache(READER, version=POSTER_CACHE_VERSION) if use_cache else None,
                          lambda batch: list(reading_threads().map(read, batch)), desc="reading poster text",
                          unit="poster", progress=progress, chunk=64)
    return [found[key] if key else "" for key in keys]
