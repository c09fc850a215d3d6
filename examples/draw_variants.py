"""Draw four design variants of the example poster (for ``moviegenre compare`` and its docs): the night
poster of draw_poster.py, a pale face over a green dark, a pink sky with a heart, and a sunny day.

    python examples/draw_variants.py examples/variants/
"""

import sys
from pathlib import Path

from draw_poster import draw as draw_night
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 224, 330


def gradient(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    column = Image.new("RGB", (1, HEIGHT))
    for y in range(HEIGHT):
        t = y / HEIGHT
        column.putpixel((0, y), tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    return column.resize((WIDTH, HEIGHT))


# Each variant: sky colours (top, bottom), shapes in drawing order, the title's corner and colour.
VARIANTS = {
    "face": ((10, 25, 15), (0, 0, 0), [  # a pale face, hollow eyes, an open mouth, a title bar dripping red
        ("ellipse", (52, 60, 172, 210), (225, 222, 205)), ("ellipse", (78, 105, 100, 135), (5, 5, 5)),
        ("ellipse", (124, 105, 146, 135), (5, 5, 5)), ("ellipse", (96, 160, 128, 195), (40, 0, 0)),
        *(("rectangle", (x, 250, x + 5, 250 + (x * 7) % 40 + 10), (150, 0, 0)) for x in range(60, 170, 18)),
        ("rectangle", (20, 230, 204, 256), (150, 0, 0))], (38, 236), (0, 0, 0)),
    "heart": ((255, 190, 210), (250, 230, 200), [  # a heart over two figures on a bench
        ("ellipse", (70, 60, 114, 104), (220, 40, 80)), ("ellipse", (110, 60, 154, 104), (220, 40, 80)),
        ("polygon", [(72, 90), (152, 90), (112, 140)], (220, 40, 80)),
        *(shape for x in (80, 130) for shape in (("ellipse", (x, 200, x + 16, 216), (60, 40, 50)),
                                                 ("rectangle", (x - 2, 216, x + 18, 270), (60, 40, 50)))),
        ("rectangle", (60, 262, 170, 272), (120, 80, 60))], (58, 295), (160, 20, 60)),
    "sunny": ((120, 200, 255), (255, 240, 150), [  # a sun, green hills, a grinning figure
        ("ellipse", (150, 20, 205, 75), (255, 210, 0)), ("ellipse", (-60, 230, 150, 400), (90, 190, 70)),
        ("ellipse", (90, 250, 300, 420), (70, 170, 60)), ("ellipse", (92, 170, 132, 210), (255, 220, 180)),
        ("arc", (100, 180, 124, 202), (0, 0, 0)), ("rectangle", (97, 210, 127, 260), (230, 60, 60))],
              (60, 110), (30, 60, 160)),
}


def draw_variant(path: Path, top, bottom, shapes, title_at, title_colour) -> None:
    image = gradient(top, bottom)
    draw = ImageDraw.Draw(image)
    for kind, where, colour in shapes:
        if kind == "arc":
            draw.arc(where, 20, 160, fill=colour, width=2)
        else:
            getattr(draw, kind)(where, fill=colour)
    draw.text(title_at, "THE LAST NIGHT", fill=title_colour)
    image.save(path)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/variants")
    out.mkdir(parents=True, exist_ok=True)
    draw_night(str(out / "night.png"))
    for name, variant in VARIANTS.items():
        draw_variant(out / f"{name}.png", *variant)
    print(f"wrote 4 variants to {out}")
