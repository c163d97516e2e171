"""Image files on disk: which files count as images, their content digest, and decoding to RGB."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.errors import HarnessError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})

#: what shows through transparent pixels; product photos are shot and shown on white
BACKGROUND = (255, 255, 255)


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def find_images(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted; hidden files and folders (".name") are skipped."""
    found = (
        path
        for path in folder.rglob("*")
        if not any(part.startswith(".") for part in path.relative_to(folder).parts) and is_image_file(path)
    )
    return sorted(found, key=lambda path: path.relative_to(folder).as_posix())


def file_digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def decode_image(path: str | Path) -> Image.Image:
    """Decode an image file fully and return it in RGB mode.

    Transparent images (RGBA, LA, palette with transparency) are composited on white before dropping
    alpha: converting straight to RGB would expose whatever colour the transparent pixels happen to
    store, often black. 16-bit greyscale is scaled to 8 bits (Pillow's own conversion clips it).
    CMYK, greyscale and palette images go through Pillow's conversion. EXIF orientation is not applied,
    as in torchvision's default image loader. Animated images yield their first frame.

    Raises:
        HarnessError: the file is missing, not an image, truncated or otherwise undecodable.
    """
    try:
        with Image.open(path) as img:
            img.load()  # decode now: Image.open only reads the header, so truncation would pass unseen
    except UnidentifiedImageError as exc:
        raise HarnessError(f"cannot decode image '{path}': not an image format Pillow can read") from exc
    # Pillow reports truncated or corrupt data as OSError, some malformed chunks as SyntaxError or ValueError
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise HarnessError(f"cannot decode image '{path}': {exc}") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert a loaded image to RGB as decode_image describes."""
    if img.mode.startswith("I"):  # 16-bit (or 32-bit integer) greyscale
        pixels = np.asarray(img, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")
