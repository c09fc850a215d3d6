"""Faster CPU embeddings: the encoders' networks exported once to ONNX Runtime, same outputs.

    >>> from moviegenre.features.fast import fast_encoder
    >>> posters = fast_encoder(image_encoder("efficientnet-lite0")).encode_files(paths)
    >>> texts = fast_encoder(text_encoder("minilm")).encode_texts(descriptions)

An export is written once per encoder into the cache folder (``onnx/``: the network, its input settings and,
for text, the tokenizer) and loaded from there by later processes with ONNX Runtime and ``tokenizers`` alone:
no torch, transformers or sentence-transformers import, which is most of a one-off ``predict``'s wait.
:class:`EncoderRef` names an encoder without building it, so a run whose vectors are all cached, or whose
encoder is already exported, never builds the PyTorch one.

What was measured (benchmarks/embed_speed.py) and kept:

- posters: the network runs in ONNX Runtime (fp32; it fuses batch norms into the convolutions and runs the
  depthwise convolutions far faster than PyTorch eager), on batches of 16, while threads decode and
  preprocess the next batch exactly as the plain encoder does;
- descriptions: the transformer runs in ONNX Runtime with its attention, LayerNorm and GELU fused
  (``onnxruntime.transformers``), on batches of 8 texts of similar length (measured 108/s against 79/s for
  batches of 32, less padding; two one-thread sessions side by side were no faster); mean pooling and
  normalisation as in sentence-transformers.

Rejected: int8 (dynamic quantisation of MiniLM: ~2x faster, but cosine to the plain path down to 0.985),
bf16 autocast (cosine 0.99998 but only ~1.2x) and channels_last in PyTorch (~1.05x).

The fast encoders keep the plain encoder's ``name`` and ``dim``: outputs agree to cosine >= 0.999 on every item
(tests/test_fast_embeddings.py), so the embedding cache is shared by both paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from moviegenre.data.images import load_poster, to_pixels
from moviegenre.data.readers import read_json
from moviegenre.data.table import publish_folder
from moviegenre.errors import DataError, first_line
from moviegenre.features.cache import cache_root, local_model_files

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Bump when what an export holds or how it is made changes: old exports are then ignored, not misread.
EXPORT_VERSION = 1
# A text network's inputs, and the field of a ``tokenizers`` encoding each is read from.
_TOKEN_FIELDS = {"input_ids": "ids", "token_type_ids": "type_ids", "attention_mask": "attention_mask"}


@dataclass(frozen=True)
class EncoderRef:
    """An encoder named but not built: ``make()`` builds the plain (PyTorch) one when it is needed at all."""

    name: str
    dim: int
    make: Callable[[], object]
    device: str = "cpu"


def fast_encoder(encoder):
    """The fast twin of a CPU encoder (or :class:`EncoderRef`), loaded from its export or exported now; the plain
    encoder where there is none (no onnxruntime, a GPU, or a text model not mean-pooled like sentence-transformers')."""
    if isinstance(encoder, FastImageEncoder | FastTextEncoder):
        return encoder
    ref = encoder if isinstance(encoder, EncoderRef) else None
    device = ref.device if ref else str(encoder.device if hasattr(encoder, "device") else encoder.model.device)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return ref.make() if ref else encoder
    if not device.startswith("cpu"):
        return ref.make() if ref else encoder
    with _lock:
        if encoder.name not in _loaded:
            folder = _export_folder(encoder.name)
            # Exports appear whole (renamed into place): anything at this path is one, checked when loaded.
            if not folder.exists():
                plain = ref.make() if ref else encoder
                if not _exportable(plain):
                    return plain
                _export(plain, folder)
            # A model's reference says the width the model reads, not the encoder's: a mismatch is the model's
            # (features/cache.py says so), the export is checked against the encoder itself.
            _loaded[encoder.name] = _load(folder, encoder.name, None if ref else encoder.dim)
        return _loaded[encoder.name]


_lock = threading.Lock()
_loaded: dict[str, FastImageEncoder | FastTextEncoder] = {}


def _export_folder(name: str) -> Path:
    key = "|".join([name, str(EXPORT_VERSION), *local_model_files(name)])
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-60:]
    return cache_root() / "onnx" / f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _exportable(plain) -> bool:
    from moviegenre.features.encoders import ImageEncoder

    return isinstance(plain, ImageEncoder) or _mean_pooled(plain)


def _mean_pooled(encoder) -> bool:
    """Transformer -> mean pooling (-> normalisation): the sentence-transformers layout we reproduce."""
    kinds = [type(module).__name__ for module in encoder.model]
    return kinds[:2] == ["Transformer", "Pooling"] and kinds[2:] in ([], ["Normalize"]) \
        and getattr(encoder.model[1], "pooling_mode", None) == "mean"


def _export(plain, folder: Path) -> None:
    """Write ``plain``'s network and settings into ``folder`` whole or not at all (a scratch folder, renamed)."""
    from moviegenre.features.encoders import ImageEncoder

    def build(scratch: Path) -> Path:
        settings = _export_image(plain, scratch) if isinstance(plain, ImageEncoder) else _export_text(plain, scratch)
        _preoptimize(scratch / "model.onnx")
        (scratch / "encoder.json").write_text(json.dumps({"name": plain.name, "dim": plain.dim, **settings}))
        return scratch

    publish_folder(folder, build)


def _onnx_export(module, inputs: tuple, path: Path, names: list[str], dynamic: dict) -> None:
    import torch

    class Traced(torch.nn.Module):  # any callable over a module, as a module the exporter can trace
        def __init__(self, call) -> None:
            super().__init__()
            self.module, self.call = module, call

        def forward(self, *args):
            return self.call(*args)

    # The tracer warns about Python-level shape branches it freezes; outputs on other batch sizes and lengths
    # are checked against the plain path (tests/test_fast_embeddings.py, benchmarks/embed_speed.py).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Traced(inputs[0]).eval(), inputs[1], str(path), dynamo=False, opset_version=17,
                          input_names=names[:-1], output_names=names[-1:], dynamic_axes=dynamic)


def _export_image(plain, scratch: Path) -> dict:
    import torch

    example = torch.zeros(1, 3, plain.image_size, plain.image_size)
    _onnx_export(plain.model, (plain.pooled, (example,)), scratch / "model.onnx", ["pixels", "embedding"],
                 {"pixels": {0: "batch"}, "embedding": {0: "batch"}})
    return {"kind": "image", "image_size": plain.image_size, "pixel_mean": plain.pixel_mean,
            "pixel_std": plain.pixel_std}


def _export_text(plain, scratch: Path) -> dict:
    model = plain.model
    tokenizer, network = model[0].tokenizer, model[0].auto_model.eval()
    inputs = list(tokenizer.model_input_names)
    example = tokenizer(["a b", "a"], padding=True, return_tensors="pt")
    _onnx_export(network, (lambda *ids: network(**dict(zip(inputs, ids))).last_hidden_state,
                           tuple(example[name] for name in inputs)),
                 scratch / "model.onnx", [*inputs, "tokens"],
                 {name: {0: "batch", 1: "length"} for name in [*inputs, "tokens"]})
    if network.config.model_type == "bert":  # fuse attention, LayerNorm, GELU: ORT does not by itself
        from onnxruntime.transformers.optimizer import optimize_model

        path = str(scratch / "model.onnx")
        optimize_model(path, model_type="bert", num_heads=network.config.num_attention_heads,
                       hidden_size=network.config.hidden_size).save_model_to_file(path)
    tokenizer.backend_tokenizer.save(str(scratch / "tokenizer.json"))
    return {"kind": "text", "inputs": inputs, "max_length": model.max_seq_length,
            "normalize": type(model[-1]).__name__ == "Normalize",
            "pad_id": tokenizer.pad_token_id, "pad_token": tokenizer.pad_token}


def _preoptimize(path: Path) -> None:
    """Save the graph as ONNX Runtime optimises it (portable optimisations only), so that loading it later skips
    that work: about half of a session's start-up (1.2 s against 2.3 s for mpnet, measured on this machine)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path.with_suffix(".optimized.onnx"))
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    path.with_suffix(".optimized.onnx").replace(path)


def _load(folder: Path, name: str, dim: int | None):
    """The export in ``folder``, checked against the encoder it stands for: a damaged or tampered file is one line."""
    settings = _settings(folder / "encoder.json", name, dim)
    tokenizer = _tokenizer(folder / "tokenizer.json", settings) if settings["kind"] == "text" else None
    path = folder / "model.onnx"
    try:
        session = _session(path)
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's own error types: all mean a damaged file
        raise _damaged(path, first_line(error)) from None
    _check_session(session, settings, path)
    return FastImageEncoder(session, settings) if tokenizer is None else FastTextEncoder(session, tokenizer, settings)


def _check_session(session, settings: dict, path: Path) -> None:
    """The network takes the inputs and gives the width ``encoder.json`` says: else it would fail on every call."""
    image = settings["kind"] == "image"
    inputs = session.get_inputs()
    # (what the graph says, what the settings say) for each size the graph fixes; symbolic sizes are strings
    sizes = [(session.get_outputs()[0].shape[-1], settings["dim"])]
    if image:
        sizes += [(size, settings["image_size"]) for size in inputs[0].shape[2:]]
    if sorted(i.name for i in inputs) != sorted(["pixels"] if image else settings["inputs"]) or \
            any(isinstance(got, int) and got != want for got, want in sizes):
        raise _damaged(path, f"its inputs or outputs differ from those {path.parent / 'encoder.json'} gives")


def _settings(path: Path, name: str, dim: int | None) -> dict:
    """``encoder.json``, each field of the type and range the fast encoders rely on."""
    try:
        settings = read_json(path, limit=64 * 1024)  # a few hundred bytes as written
    except DataError as error:
        raise _damaged(path, error.problem) from None
    if not isinstance(settings, dict) or settings.get("kind") not in ("image", "text"):
        raise _damaged(path, "field 'kind' missing or not 'image'/'text'")
    checks = {"name": lambda v: v == name, "dim": lambda v: _count(v) and dim in (None, v)}
    if settings["kind"] == "image":
        checks |= {"image_size": _count, "pixel_mean": lambda v: _channels(v, lambda x: 0 <= x <= 255),
                   "pixel_std": lambda v: _channels(v, lambda x: 0 < x <= 255)}
    else:
        checks |= {"inputs": lambda v: isinstance(v, list) and "attention_mask" in v
                   and all(isinstance(x, str) and x in _TOKEN_FIELDS for x in v),
                   "max_length": _count, "normalize": lambda v: isinstance(v, bool),
                   "pad_id": lambda v: type(v) is int and 0 <= v < 2**32, "pad_token": lambda v: isinstance(v, str)}
    wrong = next((key for key, check in checks.items() if not check(settings.get(key))), None)
    if wrong in ("name", "dim"):
        raise _damaged(path, f"made for {settings.get('name')!r} ({settings.get('dim')!r}-d), not {name!r}"
                             + (f" ({dim}-d)" if dim else ""))
    if wrong is not None:
        raise _damaged(path, f"field '{wrong}' missing or of the wrong type or range")
    return settings


def _count(value) -> bool:
    return type(value) is int and 0 < value < 2**31


def _channels(value, within: Callable[[float], bool]) -> bool:
    """One number, or one per colour channel, each ``within`` its range (a comparison NaN fails)."""
    values = value if isinstance(value, list) and len(value) == 3 else [value]
    return all(type(v) in (int, float) and within(v) for v in values)


def _tokenizer(path: Path, settings: dict):
    from tokenizers import Tokenizer

    try:
        if path.stat().st_size > 64 * 1024 * 1024:  # mpnet's is 0.7 MB
            raise ValueError("over the 67,108,864 byte limit")
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # noqa: BLE001 - the tokenizers library raises plain Exceptions
        raise _damaged(path, first_line(error)) from None
    # What ``tokenizer(texts, padding=True, truncation=True, max_length=...)`` sets on each call, set once.
    tokenizer.enable_truncation(settings["max_length"])
    tokenizer.enable_padding(pad_id=settings["pad_id"], pad_token=settings["pad_token"])
    return tokenizer


def _damaged(path: Path, problem: str) -> DataError:
    return DataError(path, f"damaged ONNX export ({problem})",
                     hint=f"delete {path.parent}: it is exported again when next needed")


def _session(path: Path):
    """An ONNX Runtime session using as many threads as PyTorch does (``serve`` sets one per worker)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    torch = sys.modules.get("torch")  # PyTorch is not imported for this; where it is, follow its setting
    threads = os.environ.get("OMP_NUM_THREADS", "")
    options.intra_op_num_threads = torch.get_num_threads() if torch else int(threads) if threads.isdigit() else 0
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class FastImageEncoder:
    """``ImageEncoder.encode_files`` with the network in ONNX Runtime and decoding overlapped with it."""

    def __init__(self, session, settings: dict, batch_size: int = 16) -> None:
        self.session, self.batch_size = session, batch_size
        self.name, self.dim, self.image_size = settings["name"], settings["dim"], settings["image_size"]
        self.pixel_mean, self.pixel_std = settings["pixel_mean"], settings["pixel_std"]

    def to_array(self, image) -> np.ndarray:
        """The plain encoder's own preprocessing (``ImageEncoder.to_tensor``), as an array."""
        return to_pixels(image, self.image_size, self.pixel_mean, self.pixel_std)

    def to_tensor(self, image):
        import torch

        return torch.from_numpy(self.to_array(image))

    def encode_pixels(self, pixels) -> np.ndarray:
        """As ``ImageEncoder.encode_pixels``, in ONNX Runtime."""
        return self.session.run(None, {"pixels": np.asarray(pixels, dtype=np.float32)})[0]

    def encode_images(self, images: Sequence) -> np.ndarray:
        return self.encode_pixels(np.stack([self.to_array(image) for image in images]))

    def _pixels(self, path: str) -> np.ndarray:
        return self.to_array(load_poster(path))

    def _batches(self, paths: Sequence[str], batch_size: int, pool: ThreadPoolExecutor) -> Iterator[np.ndarray]:
        """Input arrays batch by batch; the next batch is decoded in the threads while this one runs."""
        def submit(start: int) -> list[Future]:
            return [pool.submit(self._pixels, path) for path in paths[start: start + batch_size]]

        ahead = submit(0)
        for start in range(0, len(paths), batch_size):
            current, ahead = ahead, submit(start + batch_size)
            yield np.stack([future.result() for future in current])

    def encode_files(self, paths: Sequence[str], batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=2) as pool, \
                tqdm(total=len(paths), desc=f"posters -> {self.name} (onnx)", unit="poster",
                     disable=not progress) as bar:
            for start, pixels in zip(range(0, len(paths), batch_size), self._batches(paths, batch_size, pool)):
                out[start: start + len(pixels)] = self.encode_pixels(pixels)
                bar.update(len(pixels))
        return out


class FastTextEncoder:
    """``SentenceEncoder.encode_texts`` with the transformer in ONNX Runtime, fused, on length-sorted batches."""

    def __init__(self, session, tokenizer, settings: dict, batch_size: int = 8) -> None:
        self.session, self.tokenizer, self.batch_size = session, tokenizer, batch_size
        self.name, self.dim, self.inputs = settings["name"], settings["dim"], settings["inputs"]
        self.normalize = settings["normalize"]

    def _encoded(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        return {name: np.array([getattr(e, _TOKEN_FIELDS[name]) for e in encodings], dtype=np.int64)
                for name in self.inputs}

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")  # similar lengths: little padding
        with tqdm(total=len(texts), desc=f"descriptions -> {self.name} (onnx)", unit="text",
                  disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                rows = order[start: start + batch_size]
                encoded = self._encoded([texts[i] for i in rows])
                tokens = self.session.run(None, encoded)[0]
                mask = encoded["attention_mask"][..., None].astype(np.float32)
                vectors = (tokens * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
                if self.normalize:
                    vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
                out[rows] = vectors
                bar.update(len(rows))
        return out
