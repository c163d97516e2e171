"""Image files on disk: which files count as images, their content digest, and decoding to RGB."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.core.errors import HarnessError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})

#: what shows through transparent pixels; product photos are shot and shown on white
BACKGROUND = (255, 255, 255)

#: how Pillow reports truncated or corrupt data: OSError, some malformed chunks SyntaxError or ValueError
DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def find_images(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted; hidden files and folders (".name") are skipped."""
    return [folder / relative for relative in walk_images(folder)]


def walk_images(folder: Path) -> list[str]:
    """find_images as sorted posix paths relative to ``folder``, by os.scandir: fast for a million files."""
    found: list[str] = []
    stack = [("", str(folder))]
    seen = {_identity(str(folder)): str(folder)}  # folders met, to stop at a symlink loop
    while stack:
        prefix, path = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    identity = _identity(entry.path)
                    if identity in seen:
                        raise HarnessError(
                            f"dataset folder '{entry.path}' leads back to '{seen[identity]}' (a symlink loop, or a "
                            "second link to one folder): remove the link"
                        )
                    seen[identity] = entry.path
                    stack.append((f"{prefix}{entry.name}/", entry.path))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS and entry.is_file():
                    found.append(prefix + entry.name)
    return sorted(found)


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)  # follows symlinks: two ways to one folder have one identity
    return stat.st_dev, stat.st_ino


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
    except DECODE_ERRORS as exc:
        raise HarnessError(f"cannot decode image '{path}': {exc}") from exc
    return to_rgb(img)


def inspect_image(data: bytes, name: str) -> tuple[str, str]:
    """Check that an image file's bytes decode and convert to RGB; returns (original mode, error or "").

    The error reads as decode_image's would. JPEGs are decoded at 1/8 scale (Pillow's ``draft``): every
    compressed block is still read, so truncation and corrupt data are caught, at a fraction of the cost.
    """
    mode = ""
    try:
        with Image.open(io.BytesIO(data)) as img:
            mode = img.mode
            if img.format == "JPEG":
                img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
            to_rgb(img)
    except UnidentifiedImageError:
        return mode, f"cannot decode image '{name}': not an image format Pillow can read"
    except DECODE_ERRORS as exc:
        return mode, f"cannot decode image '{name}': {exc}"
    return mode, ""


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
