"""Draw the example poster used in the README: a night sky, a moon, a lone figure and a title.

    python examples/draw_poster.py examples/poster.png
"""

import sys

from PIL import Image, ImageDraw


def draw(path: str) -> None:
    width, height = 224, 330
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):  # dark blue to blood red, top to bottom
        t = y / height
        for x in range(width):
            pixels[x, y] = (int(20 + 150 * t ** 2), int(10 + 10 * t), int(60 - 50 * t))
    draw = ImageDraw.Draw(image)
    draw.ellipse((130, 30, 190, 90), fill=(235, 230, 200))
    for x, w, h in [(0, 40, 120), (40, 30, 90), (150, 45, 140), (195, 29, 100)]:  # city skyline
        draw.rectangle((x, height - h, x + w, height), fill=(8, 8, 12))
    draw.polygon([(100, 330), (112, 250), (124, 330)], fill=(0, 0, 0))  # a lone figure
    draw.ellipse((105, 232, 119, 248), fill=(0, 0, 0))
    draw.rectangle((20, 150, 204, 190), fill=(0, 0, 0))
    draw.text((38, 162), "THE LAST NIGHT", fill=(220, 30, 30))
    image.save(path)


if __name__ == "__main__":
    draw(sys.argv[1] if len(sys.argv) > 1 else "examples/poster.png")
