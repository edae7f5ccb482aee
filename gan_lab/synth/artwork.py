"""Label albedo: procedural brand-label artwork drawn with PIL, or user artwork from a folder.

A procedural label is a colour field or gradient, horizontal bands, an optional pattern, a logo shape,
a brand name and smaller text lines (fonts found offline: DejaVu etc. under /usr/share/fonts, else PIL's
built-in font) and sometimes a barcode. It is drawn at twice the texture resolution in the label's
physical aspect ratio (so text is not stretched once wrapped on the product) and box-filtered down to the
fixed texture size ``(label_res, 2 * label_res)``. Values are sRGB in [0, 1].
"""

from __future__ import annotations

import colorsys
import functools
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from gan_lab.errors import DatasetNotFoundError
from gan_lab.imaging import is_image_path, load_image  # load_image: alpha on white, clear error if unreadable
from gan_lab.synth.rng import Stream

SYLLABLES = ["ka", "lo", "ve", "ri", "no", "za", "mi", "tu", "bel", "sun", "or", "ax", "qu", "fin", "pe",
             "ro", "gra", "vi", "lux", "mar", "ta", "ne", "do", "zen", "ko", "ly", "fre", "sh"]
WORDS = ["ORGANIC", "FRESH", "NATURAL", "CLASSIC", "ORIGINAL", "PREMIUM", "LIGHT", "ZERO", "500 ml",
         "1 L", "250 g", "NEW", "Extra", "Since 1898", "Sparkling", "Pure", "Family size", "Recipe",
         "with real fruit", "Low fat", "Gluten free", "Vegan", "100%", "Citrus", "Mint", "Cocoa"]


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """TrueType fonts available offline (sorted for determinism); empty -> PIL's built-in font only."""
    roots = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]
    found = sorted(str(p) for r in roots if r.is_dir() for p in r.rglob("*.tt[fc]"))
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _font(path: str | None, size: int):
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size=size)


def pick_font(rng: Stream, size: int):
    files = font_files()
    path = files[rng.randrange(len(files))] if files and rng.random() < 0.95 else None
    return _font(path, max(6, int(size)))


def palette(rng: Stream, n: int) -> list[tuple[int, int, int]]:
    """n harmonious sRGB colours: a base hue and analogous / complementary / triadic companions."""
    h0 = rng.random()
    offsets = rng.choice([[0, 0.08, -0.08], [0, 0.5, 0.45], [0, 1 / 3, 2 / 3], [0, 0.5, 0.05]])
    cols = []
    for k in range(n):
        h = (h0 + offsets[k % len(offsets)] + rng.uniform(-0.03, 0.03)) % 1.0
        s, v = rng.choice([(rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0)), (rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.9)),
                           (rng.uniform(0.0, 0.15), rng.choice([rng.uniform(0.9, 1.0), rng.uniform(0.05, 0.2)]))])
        cols.append(tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v)))
    return cols


def contrast(col) -> tuple[int, int, int]:
    """Black or white, whichever reads on ``col``."""
    lum = 0.299 * col[0] + 0.587 * col[1] + 0.114 * col[2]
    return (20, 20, 20) if lum > 140 else (250, 250, 245)


def _gradient(w: int, h: int, c0, c1, kind: str) -> Image.Image:
    # one float32 plane per channel (contiguous: the (h, w, 3) broadcast ran ~5x slower, same values);
    # linear gradients: one row / column of colours, widened by PIL's nearest-neighbour resize (copies)
    y, x = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    if kind == "vertical":
        t = y / max(h - 1, 1)
    elif kind == "horizontal":
        t = x / max(w - 1, 1)
    else:  # radial
        t = np.clip(np.hypot((x - w / 2) / w, (y - h / 2) / h) * 1.6, 0, 1)
    planes = [((1 - t) * a + t * b).round().astype(np.uint8)
              for a, b in zip(np.array(c0, np.float32), np.array(c1, np.float32))]
    img = Image.merge("RGB", [Image.fromarray(np.ascontiguousarray(p), "L") for p in planes])
    return img if img.size == (w, h) else img.resize((w, h), Image.NEAREST)


def _star(cx, cy, r, points, inner=0.45, rot=0.0):
    return [(cx + (r if k % 2 == 0 else r * inner) * math.cos(rot + k * math.pi / points),
             cy + (r if k % 2 == 0 else r * inner) * math.sin(rot + k * math.pi / points)) for k in range(2 * points)]


def _logo(draw: ImageDraw.ImageDraw, rng: Stream, cx, cy, r, fill, accent):
    kind = rng.choice(["circle", "ring", "star", "diamond", "rounded", "polygon", "leaf"])
    box = [cx - r, cy - r, cx + r, cy + r]
    if kind == "circle":
        draw.ellipse(box, fill=fill)
        draw.ellipse([cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6], fill=accent)
    elif kind == "ring":
        draw.ellipse(box, outline=fill, width=max(2, int(r * 0.22)))
    elif kind == "star":
        draw.polygon(_star(cx, cy, r, rng.randint(5, 8), rot=rng.random()), fill=fill)
    elif kind == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill, outline=accent)
    elif kind == "rounded":
        draw.rounded_rectangle([cx - 1.4 * r, cy - r * 0.8, cx + 1.4 * r, cy + r * 0.8], radius=r * 0.4, fill=fill,
                               outline=accent, width=max(1, int(r * 0.08)))
    elif kind == "polygon":
        k = rng.randint(3, 8)
        draw.regular_polygon((cx, cy, r), k, rotation=rng.uniform(0, 360), fill=fill)
    else:
        draw.ellipse([cx - r, cy - r * 0.45, cx + r, cy + r * 0.45], fill=fill)
        draw.line([(cx - r, cy), (cx + r, cy)], fill=accent, width=max(1, int(r * 0.08)))


def _text(draw, rng: Stream, text: str, cx, cy, max_w, size, fill, stroke=None):
    """Draw ``text`` centred at (cx, cy), shrinking the font until it fits ``max_w``."""
    font = pick_font(rng, size)
    for _ in range(6):
        l, t, r, b = draw.textbbox((0, 0), text, font=font, stroke_width=2 if stroke else 0)
        if r - l <= max_w or size < 8:
            break
        size *= max_w / max(r - l, 1) * 0.95
        path = getattr(font, "path", None)
        font = _font(path if isinstance(path, str) else None, max(6, int(size)))  # None: PIL's built-in font
    l, t, r, b = draw.textbbox((0, 0), text, font=font, stroke_width=2 if stroke else 0)
    half, width = (r - l) / 2, draw.im.size[0]
    cx = min(max(cx, half + 2), width - half - 2) if 2 * half + 4 < width else width / 2
    draw.text((cx - (r + l) / 2, cy - (b + t) / 2), text, font=font, fill=fill,
              stroke_width=2 if stroke else 0, stroke_fill=stroke)


def brand_name(rng: Stream) -> str:
    name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
    style = rng.random()
    return name.upper() if style < 0.5 else name.capitalize() if style < 0.9 else name


def procedural_label(rng: Stream, height: int, aspect: float) -> Image.Image:
    """A brand label of ``height`` x ``round(height * aspect)`` pixels (PIL RGB, sRGB)."""
    h, w = height, max(8, int(round(height * aspect)))
    cols = palette(rng, 4)
    bg, band, logo, accent = cols
    kind = rng.choice(["flat", "flat", "vertical", "horizontal", "radial"])
    img = Image.new("RGB", (w, h), bg) if kind == "flat" else _gradient(w, h, bg, cols[rng.randrange(1, 4)], kind)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 3)):  # horizontal bands, sometimes wavy
        y0 = rng.uniform(0, 0.9) * h
        bh = rng.uniform(0.04, 0.3) * h
        col = rng.choice(cols)
        if rng.random() < 0.3:
            amp, per, ph = rng.uniform(0.02, 0.08) * h, rng.uniform(0.3, 1.0) * w, rng.uniform(0, 6.3)
            top = [(x, y0 + amp * math.sin(2 * math.pi * x / per + ph)) for x in np.linspace(0, w, 40)]
            draw.polygon(top + [(w, y0 + bh), (0, y0 + bh)], fill=col)
        else:
            draw.rectangle([0, y0, w, y0 + bh], fill=col)
    if rng.random() < 0.3:  # diagonal stripes or dots over a region
        x0, x1 = sorted(rng.uniform(0, w) for _ in range(2))
        col, step = rng.choice(cols), rng.uniform(0.04, 0.1) * h
        if rng.random() < 0.5:
            for k in range(int((x1 - x0 + h) / step) + 1):
                xa = x0 + k * step
                draw.line([(xa, 0), (xa - h, h)], fill=col, width=max(1, int(step * 0.35)))
        else:
            for yy in np.arange(step / 2, h, step):
                for xx in np.arange(x0, x1, step):
                    draw.ellipse([xx - step * 0.2, yy - step * 0.2, xx + step * 0.2, yy + step * 0.2], fill=col)
    # logo, brand name, secondary lines: laid out around a centre panel
    cx = w * rng.uniform(0.3, 0.7)
    cy = h * rng.uniform(0.3, 0.6)
    panel = rng.random() < 0.4
    if panel:  # a panel behind the name, as many labels have
        pw, ph = rng.uniform(0.3, 0.6) * w, rng.uniform(0.3, 0.5) * h
        shape = rng.choice(["rect", "ellipse", "rounded"])
        box = [cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2]
        {"rect": draw.rectangle, "ellipse": draw.ellipse}.get(shape, lambda b, **k: draw.rounded_rectangle(b, radius=ph / 4, **k))(
            box, fill=band, outline=accent, width=max(1, h // 60))
    under = band if panel else img.getpixel((int(min(max(cx, 0), w - 1)), int(min(max(cy, 0), h - 1))))
    if rng.random() < 0.8:
        r = h * rng.uniform(0.07, 0.16)
        lx = cx + rng.choice([-1, 1]) * rng.uniform(0.25, 0.4) * w
        _logo(draw, rng, min(max(lx, r), w - r), h * rng.uniform(0.15, 0.85), r, logo, accent)
    ink = contrast(under) if rng.random() < 0.6 else rng.choice(cols)
    stroke = contrast(ink) if rng.random() < 0.3 else None
    _text(draw, rng, brand_name(rng), cx, cy, 0.8 * (pw if panel else w), h * rng.uniform(0.16, 0.3), ink, stroke)
    for k in range(rng.randint(1, 3)):
        ty = cy + h * (0.17 + 0.1 * k) * rng.choice([1, -1])
        if 0.05 * h < ty < 0.95 * h:
            _text(draw, rng, rng.choice(WORDS), cx + rng.uniform(-0.1, 0.1) * w, ty, 0.6 * w, h * rng.uniform(0.05, 0.1),
                  contrast(img.getpixel((int(min(max(cx, 0), w - 1)), int(ty)))))
    if rng.random() < 0.25:  # barcode on a white patch
        bx, by, bw_, bh_ = rng.uniform(0.05, 0.8) * w, rng.uniform(0.6, 0.8) * h, 0.12 * w, 0.16 * h
        draw.rectangle([bx, by, bx + bw_, by + bh_], fill=(250, 250, 250))
        x = bx + 2
        while x < bx + bw_ - 3:
            lw = rng.choice([1, 1, 2, 3])
            draw.rectangle([x, by + 2, x + lw, by + bh_ - 3], fill=(10, 10, 10))
            x += lw + rng.choice([1, 2, 3])
    return img


def background_texture(rng: Stream, size: int) -> Image.Image:
    """Backdrop albedo with clutter: a muted surface (paint, wood, tiles, fabric) with random shapes."""
    h0 = rng.random()
    base = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h0, rng.uniform(0.0, 0.35), rng.uniform(0.25, 0.85)))
    img = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(img)
    kind = rng.choice(["plain", "wood", "tiles", "clutter", "clutter"])

    def muted():
        return tuple(int(255 * c) for c in colorsys.hsv_to_rgb((h0 + rng.uniform(-0.2, 0.2)) % 1,
                                                                rng.uniform(0, 0.5), rng.uniform(0.15, 0.9)))
    if kind == "wood":
        for y in range(0, size, 2):
            shade = int(18 * math.sin(y * rng.uniform(0.2, 0.5)) + rng.uniform(-8, 8))
            draw.line([(0, y), (size, y + rng.uniform(-3, 3))], fill=tuple(max(0, min(255, c + shade)) for c in base), width=2)
    elif kind == "tiles":
        step, grout = rng.randint(size // 8, size // 3), muted()
        for k in range(0, size, step):
            draw.line([(k, 0), (k, size)], fill=grout, width=2)
            draw.line([(0, k), (size, k)], fill=grout, width=2)
    elif kind == "clutter":
        for _ in range(rng.randint(4, 14)):
            x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.04, 0.3) * size
            shape = rng.choice([draw.rectangle, draw.ellipse])
            shape([x - r, y - r * rng.uniform(0.3, 1), x + r, y + r * rng.uniform(0.3, 1)], fill=muted())
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.0)))
    grain = np.asarray(img, np.float32) + np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(1, 8), (size, size, 1))
    return Image.fromarray(np.clip(grain, 0, 255).round().astype(np.uint8), "RGB")


@functools.lru_cache(maxsize=8)
def artwork_files(folder: str) -> tuple[str, ...]:
    files = sorted(str(p) for p in Path(folder).iterdir() if is_image_path(p))
    if not files:
        raise DatasetNotFoundError("label artwork", folder, "  <folder>/*.png|jpg|... (any RGB label images)",
                                   "your own label images", key="artwork")
    return tuple(files)


def folder_label(rng: Stream, folder: str, height: int, aspect: float) -> Image.Image:
    """A random image of ``folder``, randomly cropped to ``aspect`` (width / height)."""
    path = rng.choice(artwork_files(folder))
    arr = ((load_image(path, 3) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    w, h = img.size
    cw, ch = (w, int(round(w / aspect))) if w / h < aspect else (int(round(h * aspect)), h)
    scale = rng.uniform(0.85, 1.0) if min(cw, ch) > 16 else 1.0
    cw, ch = max(1, int(cw * scale)), max(1, int(ch * scale))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x0, y0, x0 + cw, y0 + ch)).resize((max(8, int(round(height * aspect))), height), Image.LANCZOS)


def to_tensor(img: Image.Image, height: int, width: int) -> torch.Tensor:
    """PIL RGB -> (3, height, width) float32 sRGB in [0, 1], box-filtered to the texture size."""
    img = img.resize((width, height), Image.BOX if img.width >= width else Image.BICUBIC)
    # channel-first in numpy on uint8 (a torch permute + contiguous here pays for thread start-up per call)
    chw = np.ascontiguousarray(np.asarray(img, np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(chw.astype(np.float32) / 255.0)


def label_texture(rng: Stream, label_res: int, aspect: float, artwork_dir: str | None = None,
                  artwork_prob: float = 1.0) -> tuple[torch.Tensor, dict]:
    """The label of one sample: (3, label_res, 2*label_res) sRGB texture and JSON params."""
    aspect = float(min(max(aspect, 0.25), 6.0))
    if artwork_dir is not None and rng.random() < artwork_prob:
        img = folder_label(rng, artwork_dir, 2 * label_res, aspect)
        info = {"artwork": "folder"}
    else:
        img = procedural_label(rng, 2 * label_res, aspect)
        info = {"artwork": "procedural"}
    return to_tensor(img, label_res, 2 * label_res), info
