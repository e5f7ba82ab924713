#!/usr/bin/env python3
"""Draws the WoChat icon (a white speech bubble on green) into assets/icons/: PNGs from 16 to 512
pixels (the window, the .deb), wochat.ico (the .exe and the installer) and wochat.icns (the
macOS app). Needs Pillow (pip install pillow); run from anywhere."""
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "assets" / "icons"
S = 1024
RADIUS = 220
DARK, LIGHT, WHITE = (22, 150, 90, 255), (46, 184, 116, 255), (255, 255, 255, 255)


def draw() -> Image.Image:
    base = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    ImageDraw.Draw(base).rounded_rectangle([32, 32, S - 32, S - 32], radius=RADIUS, fill=DARK)
    top = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    ImageDraw.Draw(top).rounded_rectangle([32, 32, S - 32, S - 32], radius=RADIUS, fill=LIGHT)
    upper = Image.new("L", (S, S), 0)
    ImageDraw.Draw(upper).rectangle([0, 0, S, S // 2], fill=255)
    base.paste(top, (0, 0), Image.composite(top.split()[3], Image.new("L", (S, S), 0), upper))
    d = ImageDraw.Draw(base)
    d.ellipse([200, 230, S - 200, 720], fill=WHITE)
    d.polygon([(300, 620), (250, 840), (470, 690)], fill=WHITE)
    for cx in (372, 512, 652):
        d.ellipse([cx - 52, 423, cx + 52, 527], fill=DARK)
    return base


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    img = draw()
    for n in (16, 24, 32, 48, 64, 128, 256, 512):
        img.resize((n, n), Image.LANCZOS).save(OUT / f"wochat-{n}.png", optimize=True)
    sizes = [(n, n) for n in (16, 24, 32, 48, 64, 128, 256)]
    img.resize((256, 256), Image.LANCZOS).save(OUT / "wochat.ico", sizes=sizes)
    img.save(OUT / "wochat.icns")


if __name__ == "__main__":
    main()
