"""Draw four design variants of the example poster (for ``moviegenre compare`` and its docs): the night
poster of draw_poster.py, a pale face over a green dark, a pink sky with a heart, and a sunny day.

    python examples/draw_variants.py examples/variants/
"""

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from draw_poster import draw as draw_night

WIDTH, HEIGHT = 224, 330


def gradient(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, HEIGHT))
    for y in range(HEIGHT):
        t = y / HEIGHT
        column.putpixel((0, y), tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize((WIDTH, HEIGHT))


def face(path: Path) -> None:
    image = gradient((10, 25, 15), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((52, 60, 172, 210), fill=(225, 222, 205))  # a pale face, hollow eyes, an open mouth
    for x in (78, 124):
        draw.ellipse((x, 105, x + 22, 135), fill=(5, 5, 5))
    draw.ellipse((96, 160, 128, 195), fill=(40, 0, 0))
    for x in range(60, 170, 18):  # red drips from the title bar
        draw.rectangle((x, 250, x + 5, 250 + (x * 7) % 40 + 10), fill=(150, 0, 0))
    draw.rectangle((20, 230, 204, 256), fill=(150, 0, 0))
    draw.text((38, 236), "THE LAST NIGHT", fill=(0, 0, 0))
    image.save(path)


def heart(path: Path) -> None:
    image = gradient((255, 190, 210), (250, 230, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 60, 114, 104), fill=(220, 40, 80))  # a heart over two figures on a bench
    draw.ellipse((110, 60, 154, 104), fill=(220, 40, 80))
    draw.polygon([(72, 90), (152, 90), (112, 140)], fill=(220, 40, 80))
    for x in (80, 130):
        draw.ellipse((x, 200, x + 16, 216), fill=(60, 40, 50))
        draw.rectangle((x - 2, 216, x + 18, 270), fill=(60, 40, 50))
    draw.rectangle((60, 262, 170, 272), fill=(120, 80, 60))
    draw.text((58, 295), "THE LAST NIGHT", fill=(160, 20, 60))
    image.save(path)


def sunny(path: Path) -> None:
    image = gradient((120, 200, 255), (255, 240, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 20, 205, 75), fill=(255, 210, 0))  # a sun, green hills, a grinning figure
    draw.ellipse((-60, 230, 150, 400), fill=(90, 190, 70))
    draw.ellipse((90, 250, 300, 420), fill=(70, 170, 60))
    draw.ellipse((92, 170, 132, 210), fill=(255, 220, 180))
    draw.arc((100, 180, 124, 202), 20, 160, fill=(0, 0, 0), width=2)
    draw.rectangle((97, 210, 127, 260), fill=(230, 60, 60))
    draw.text((60, 110), "THE LAST NIGHT", fill=(30, 60, 160))
    image.save(path)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/variants")
    out.mkdir(parents=True, exist_ok=True)
    draw_night(str(out / "night.png"))
    for name, drawer in (("face", face), ("heart", heart), ("sunny", sunny)):
        drawer(out / f"{name}.png")
    print(f"wrote 4 variants to {out}")
