"""The safe image loader: decoding to RGB, resize policies, and rejection of unusable files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import draw_poster
from moviegenre.data.images import MAX_PIXELS, load_image, poster_source
from moviegenre.errors import ImageError


def save_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (60, 90), fmt: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format=fmt)
    return path


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming width x height, with an empty image body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, mode", [("a.jpg", "RGB"), ("b.jpeg", "L"), ("c.png", "RGBA"), ("d.png", "P"),
                                        ("e.png", "L"), ("f.jpg", "CMYK")])
def test_loads_jpeg_and_png_as_rgb(tmp_path, name, mode):
    image = load_image(save_image(tmp_path / name, mode))
    assert image.mode == "RGB"
    assert image.size == (60, 90)


@pytest.mark.parametrize("size, draft", [((60, 90), None), ((600, 900), 224)])  # the second is reduced first
def test_a_16_bit_grey_png_reads_as_its_8_bit_twin(tmp_path, size, draft):
    grey = np.random.default_rng(0).integers(0, 256, (size[1], size[0]), dtype=np.uint16)
    Image.fromarray(grey * 257).save(tmp_path / "deep.png")  # 0..65535: a 16-bit PNG (mode I;16)
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "flat.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    deep, flat = (np.asarray(load_image(tmp_path / name, draft=draft)) for name in ("deep.png", "flat.png"))
    assert np.array_equal(deep, flat)  # not clipped to white


def test_loads_from_bytes(tmp_path):
    data = save_image(tmp_path / "a.png").read_bytes()
    image = load_image(data)
    assert (image.mode, image.size) == ("RGB", (60, 90))
    assert np.array_equal(np.asarray(image), np.asarray(load_image(tmp_path / "a.png")))


def blue_corner(image: Image.Image) -> str:
    """Which corner of a red image holds its 30x30 blue marker (JPEG blurs the colours, not the layout)."""
    pixels = np.asarray(image).astype(int)
    corners = {"top-left": pixels[:30, :30], "top-right": pixels[:30, -30:], "bottom-left": pixels[-30:, :30],
               "bottom-right": pixels[-30:, -30:]}
    blue = [name for name, corner in corners.items() if corner[8:-8, 8:-8, 2].mean() > corner[8:-8, 8:-8, 0].mean()]
    assert len(blue) == 1, blue
    return blue[0]


def rotated_jpeg(path: Path) -> Path:
    """A 60x90 red JPEG, blue in its stored top-left corner, whose EXIF orientation 6 says: turn me 90 degrees
    clockwise to view (the stored top row is the viewed right-hand column)."""
    image = Image.new("RGB", (60, 90), (200, 10, 10))
    image.paste((10, 10, 200), (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, exif=exif)
    return path


def test_applies_exif_orientation(tmp_path):
    path = rotated_jpeg(tmp_path / "rotated.jpg")
    assert blue_corner(Image.open(path)) == "top-left"  # as stored
    image = load_image(path)
    assert image.size == (90, 60)
    assert blue_corner(image) == "top-right"  # turned clockwise: the stored top-left corner ends top right


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_a_transparent_poster_reads_as_it_looks_on_white_whatever_colour_hides_under_it(tmp_path, mode):
    looks = []
    for hidden in ((0, 0, 0), (255, 255, 255), (255, 0, 255)):
        image = Image.new("RGBA", (60, 90), (*hidden, 0))
        image.paste((200, 10, 10, 255), (10, 10, 50, 80))
        if mode == "P":  # a GIF's or palette PNG's transparency: one palette entry
            image = image.convert("RGB").quantize(4)
            image.info["transparency"] = image.getpixel((0, 0))
        image.save(tmp_path / "p.png")
        looks.append(np.asarray(load_image(tmp_path / "p.png")))
        assert np.array_equal(np.asarray(load_image(poster_source(Image.open(tmp_path / "p.png")))), looks[-1])
    assert all(np.array_equal(look, looks[0]) for look in looks)
    assert looks[0][0, 0].tolist() == [255, 255, 255] and looks[0][40, 30].tolist() == [200, 10, 10]


def test_a_pil_image_is_read_upright_as_its_file_is(tmp_path):
    path = rotated_jpeg(tmp_path / "rotated.jpg")
    from_file, from_pil = load_image(path), load_image(poster_source(Image.open(path)))
    assert from_pil.size == from_file.size == (90, 60)
    assert blue_corner(from_pil) == "top-right"
    assert np.array_equal(np.asarray(from_pil), np.asarray(from_file))


def test_real_poster(shared_data):
    poster = next((shared_data / "posters").glob("*.jpg"))
    image = load_image(poster, size=224, policy="pad")
    assert (image.mode, image.size) == ("RGB", (224, 224))
    assert load_image(poster).width == 224


@pytest.mark.parametrize("policy", ["stretch", "pad", "crop"])
@pytest.mark.parametrize("size, expected", [((32, 48), (32, 48)), ((50, 20), (50, 20)), (40, (40, 40))])
def test_resize_policies_give_the_requested_size(tmp_path, policy, size, expected):
    image = load_image(draw_poster(tmp_path / "p.png", size=(64, 96)), size=size, policy=policy)
    assert image.size == expected


def test_policy_none_keeps_the_decoded_size(tmp_path):
    assert load_image(draw_poster(tmp_path / "p.png", size=(64, 96)), size=40, policy="none").size == (64, 96)


def test_pad_adds_black_borders_and_crop_does_not(tmp_path):
    path = tmp_path / "white.png"
    Image.new("RGB", (50, 100), "white").save(path)
    padded = np.asarray(load_image(path, size=100, policy="pad"))
    cropped = np.asarray(load_image(path, size=100, policy="crop"))
    assert padded[:, :20].max() == 0 and padded[:, 40:60].min() == 255
    assert cropped.min() == 255


def test_unknown_policy(tmp_path):
    with pytest.raises(ImageError, match=r"^resize: unknown policy 'zoom' \(use one of none, stretch, pad, crop\)"):
        load_image(draw_poster(tmp_path / "p.png"), size=10, policy="zoom")


def truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 150, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_text("<html>not a poster</html>"), "not an image (give a JPEG, PNG, WebP or GIF poster)"),
    (lambda p: p.write_bytes(b""), "empty file (give a JPEG, PNG, WebP or GIF poster)"),
    (truncated_jpeg, "damaged or truncated image (image file is truncated"),
    (lambda p: p.write_bytes(png_header(100_000, 100_000)), "image is too large to decode safely"),
    (lambda p: p.write_bytes(png_header(8_000, 6_000)), f"image is 8000x6000 pixels, over the {MAX_PIXELS:,} limit"),
    (lambda p: None, "cannot read (No such file or directory)"),
    (lambda p: p.symlink_to(p), "is a symlink loop (or a chain of too many links) (point the link at the poster file)"),
])
def test_rejects_unusable_files_naming_them(tmp_path, make, problem):
    path = tmp_path / "poster.jpg"
    make(path)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(caught.value).startswith(f"{path}: {problem}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("url", ["https://example.com/p.jpg", "https:/example.com/p.jpg", "s3://bucket/p.jpg"])
def test_a_url_given_as_a_poster_path_is_named_a_url(url):
    """(A command line's Path turns "https://" into "https:/".)"""
    with pytest.raises(ImageError, match=r": is a URL, not a file \(download the poster first and give its path\)$"):
        load_image(Path(url))


def test_small_max_pixels(tmp_path):
    path = draw_poster(tmp_path / "p.png", size=(64, 96))
    with pytest.raises(ImageError, match=rf"^{path}: image is 64x96 pixels, over the 1,000 limit"):
        load_image(path, max_pixels=1_000)
    assert load_image(path, max_pixels=64 * 96).size == (64, 96)


def test_bytes_errors_use_the_given_name():
    with pytest.raises(ImageError, match=r"^upload\.jpg: not an image"):
        load_image(b"GIF? no", name="upload.jpg")
    with pytest.raises(ImageError, match=r"^<upload>: empty file"):
        load_image(b"")
