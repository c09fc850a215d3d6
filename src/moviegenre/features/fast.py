"""Faster CPU embeddings: the registered encoders' networks exported to ONNX Runtime, same outputs.

    >>> from moviegenre.features.fast import fast_encoder
    >>> posters = fast_encoder(image_encoder("efficientnet-lite0")).encode_files(paths)
    >>> texts = fast_encoder(text_encoder("minilm")).encode_texts(descriptions)

What was measured (benchmarks/embed_speed.py) and kept:

- posters: the network runs in ONNX Runtime (fp32; it fuses batch norms into the convolutions and runs the
  depthwise convolutions far faster than PyTorch eager), on batches of 16, while threads decode and
  preprocess the next batch exactly as the plain encoder does (its own ``to_tensor``);
- descriptions: the transformer runs in ONNX Runtime with its attention, LayerNorm and GELU fused
  (``onnxruntime.transformers``), on batches of 8 texts of similar length (measured 108/s against 79/s for
  batches of 32, less padding; two one-thread sessions side by side were no faster); mean pooling and
  normalisation as in sentence-transformers.

Rejected: int8 (dynamic quantisation of MiniLM: ~2x faster, but cosine to the plain path down to 0.985),
bf16 autocast (cosine 0.99998 but only ~1.2x) and channels_last in PyTorch (~1.05x).

The wrappers keep the plain encoder's ``name`` and ``dim``: outputs agree to cosine >= 0.999 on every item
(tests/test_fast_embeddings.py), so the embedding cache is shared by both paths.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from moviegenre.data.images import load_image
from moviegenre.features.encoders import ImageEncoder, SentenceEncoder


def fast_encoder(encoder: ImageEncoder | SentenceEncoder) -> ImageEncoder | SentenceEncoder | FastImageEncoder \
        | FastTextEncoder:
    """The fast twin of a CPU encoder (built once per encoder); the encoder itself where there is none
    (a GPU, where PyTorch is the fast path, or a text model not mean-pooled like sentence-transformers')."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return encoder
    return _fast(encoder)


@lru_cache(maxsize=8)
def _fast(encoder):
    if isinstance(encoder, ImageEncoder) and encoder.device.type == "cpu":
        return FastImageEncoder(encoder)
    if isinstance(encoder, SentenceEncoder) and encoder.model.device.type == "cpu" and _mean_pooled(encoder):
        return FastTextEncoder(encoder)
    return encoder


def _export(module: nn.Module, inputs: tuple, path: Path, names: list[str], dynamic: dict) -> None:
    # The tracer warns about Python-level shape branches it freezes; outputs on other batch sizes and lengths
    # are checked against the plain path (tests/test_fast_embeddings.py, benchmarks/embed_speed.py).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), inputs, str(path), dynamo=False, opset_version=17, input_names=names[:-1],
                          output_names=names[-1:], dynamic_axes=dynamic)


def _session(path: Path):
    """An ONNX Runtime session using as many threads as PyTorch does (``serve`` sets one per worker)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _Traced(nn.Module):
    """Any callable over a module, as a module the ONNX exporter can trace."""

    def __init__(self, module: nn.Module, forward) -> None:
        super().__init__()
        self.module, self.call = module, forward

    def forward(self, *inputs):
        return self.call(*inputs)


class FastImageEncoder:
    """``ImageEncoder.encode_files`` with the network in ONNX Runtime and decoding overlapped with it."""

    def __init__(self, plain: ImageEncoder, batch_size: int = 16) -> None:
        self.plain, self.name, self.dim, self.batch_size = plain, plain.name, plain.dim, batch_size
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "image.onnx"
            example = torch.zeros(1, 3, plain.image_size, plain.image_size)
            _export(_Traced(plain.model, plain.pooled), (example,), path, ["pixels", "embedding"],
                    {"pixels": {0: "batch"}, "embedding": {0: "batch"}})
            self.session = _session(path)

    def to_tensor(self, image) -> torch.Tensor:
        return self.plain.to_tensor(image)

    def encode_pixels(self, pixels: torch.Tensor | np.ndarray) -> np.ndarray:
        """As ``ImageEncoder.encode_pixels``, in ONNX Runtime."""
        return self.session.run(None, {"pixels": np.asarray(pixels, dtype=np.float32)})[0]

    def _pixels(self, path: str) -> np.ndarray:
        return self.plain.to_tensor(load_image(path)).numpy()  # the plain path's own preprocessing

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


def _mean_pooled(encoder: SentenceEncoder) -> bool:
    """Transformer -> mean pooling (-> normalisation): the sentence-transformers layout we reproduce."""
    kinds = [type(module).__name__ for module in encoder.model]
    return kinds[:2] == ["Transformer", "Pooling"] and kinds[2:] in ([], ["Normalize"]) \
        and getattr(encoder.model[1], "pooling_mode", None) == "mean"


class FastTextEncoder:
    """``SentenceEncoder.encode_texts`` with the transformer in ONNX Runtime, fused, on length-sorted batches."""

    def __init__(self, plain: SentenceEncoder, batch_size: int = 8) -> None:
        self.plain, self.name, self.dim, self.batch_size = plain, plain.name, plain.dim, batch_size
        model = plain.model
        self.tokenizer, self.max_length = model[0].tokenizer, model.max_seq_length
        self.normalize = type(model[-1]).__name__ == "Normalize"
        network = model[0].auto_model.eval()
        self.inputs = list(self.tokenizer.model_input_names)
        example = self.tokenizer(["a b", "a"], padding=True, return_tensors="pt")
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "text.onnx"
            _export(_Traced(network, lambda *ids: network(**dict(zip(self.inputs, ids))).last_hidden_state),
                    tuple(example[name] for name in self.inputs), path, [*self.inputs, "tokens"],
                    {name: {0: "batch", 1: "length"} for name in [*self.inputs, "tokens"]})
            if network.config.model_type == "bert":  # fuse attention, LayerNorm, GELU: ORT does not by itself
                from onnxruntime.transformers.optimizer import optimize_model

                optimize_model(str(path), model_type="bert", num_heads=network.config.num_attention_heads,
                               hidden_size=network.config.hidden_size).save_model_to_file(str(path))
            self.session = _session(path)

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = True) -> np.ndarray:
        batch_size = batch_size or self.batch_size
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")  # similar lengths: little padding
        with tqdm(total=len(texts), desc=f"descriptions -> {self.name} (onnx)", unit="text",
                  disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                rows = order[start: start + batch_size]
                encoded = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                         max_length=self.max_length, return_tensors="np")
                tokens = self.session.run(None, {name: encoded[name].astype(np.int64) for name in self.inputs})[0]
                mask = encoded["attention_mask"][..., None].astype(np.float32)
                vectors = (tokens * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
                if self.normalize:
                    vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
                out[rows] = vectors
                bar.update(len(rows))
        return out
