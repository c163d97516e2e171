"""``synthetic``: generated product-like images with class structure, for tests and smoke runs.

A class is a (shape, object colour) pair, like "red star" or "blue hexagon". Classes share shapes and colours
with each other (8 shapes x ``colours`` hues), so neither colour nor shape alone identifies a class; every
instance also differs in position, size, rotation, shade, background and pixel noise, and the background
is drawn independently of the class. A backbone must see both shape and colour to score well, so the
metrics separate strong embeddings from weak ones instead of saturating at 1.0.
Images are generated on demand from a recipe that depends only on (seed, class, index).
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageDraw

from harness.compute.datasets.base import CLASS_FIELD, Dataset, Item, Manifest
from harness.compute.datasets.options import int_option, split_options
from harness.compute.datasets.splits import stratified_split
from harness.spec.ids import Ref, check_options

Recipe = dict[str, Any]


def _regular(n: int, inner: float = 1.0) -> list[tuple[float, float]]:
    """A regular n-gon of unit radius; with ``inner`` < 1, odd vertices move inwards (a star)."""
    radii = [1.0 if k % 2 == 0 else inner for k in range(n)]
    return [(r * math.sin(2 * math.pi * k / n), -r * math.cos(2 * math.pi * k / n)) for k, r in enumerate(radii)]


# Unit polygons centred on the origin; a curve is a many-sided polygon so that rotation is one formula.
SHAPES: dict[str, list[tuple[float, float]]] = {
    "rectangle": [(-1.0, -0.65), (1.0, -0.65), (1.0, 0.65), (-1.0, 0.65)],
    "ellipse": [(x, 0.7 * y) for x, y in _regular(64)],
    "triangle": _regular(3),
    "diamond": [(0.0, -1.0), (0.6, 0.0), (0.0, 1.0), (-0.6, 0.0)],
    "cross": [
        (-0.3, -1.0),
        (0.3, -1.0),
        (0.3, -0.3),
        (1.0, -0.3),
        (1.0, 0.3),
        (0.3, 0.3),
        (0.3, 1.0),
        (-0.3, 1.0),
        (-0.3, 0.3),
        (-1.0, 0.3),
        (-1.0, -0.3),
        (-0.3, -0.3),
    ],
    "star": _regular(10, inner=0.45),
    "hexagon": _regular(6),
    "pentagon": _regular(5),
}


def _rgb(hue: float, saturation: float, value: float) -> list[int]:
    return [round(255 * c) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value)]


#: a hue's nearest name, hues 0, 1/8, 2/8, ... (the words a class's text uses)
COLOUR_NAMES = ("red", "orange", "yellow-green", "green", "cyan", "blue", "purple", "pink")


def class_look(seed: int, classes: int, label: int) -> tuple[str, float]:
    """(shape, hue) of a class: shapes cycle fastest, hues come from ceil(classes / 8) evenly spaced ones."""
    hues = -(-classes // len(SHAPES))
    offset = np.random.default_rng([seed, classes]).random()
    return list(SHAPES)[label % len(SHAPES)], offset + (label // len(SHAPES)) / hues


def recipe(seed: int, classes: int, label: int, index: int, size: int) -> Recipe:
    """Everything needed to draw item ``index`` of class ``label``; plain JSON data."""
    shape, hue = class_look(seed, classes, label)
    rng = np.random.default_rng([seed, label, index])
    jitter = rng.integers(-20, 21, size=3).tolist()
    return {
        "shape": shape,
        "size": size,
        "center": [round(size * (0.5 + rng.uniform(-0.15, 0.15)), 3) for _ in range(2)],
        "radius": round(size * 0.28 * rng.uniform(0.75, 1.25), 3),
        "angle": round(rng.uniform(-30.0, 30.0), 3),
        "object": [min(max(c + j, 0), 255) for c, j in zip(_rgb(hue, 0.75, 0.8), jitter, strict=True)],
        "background": _rgb(rng.random(), rng.uniform(0.05, 0.3), rng.uniform(0.75, 1.0)),
        "noise_sigma": 8.0,
        "noise_seed": int(rng.integers(2**32)),
    }


def draw(r: Recipe) -> Image.Image:
    cos, sin = math.cos(math.radians(r["angle"])), math.sin(math.radians(r["angle"]))
    (cx, cy), radius = r["center"], r["radius"]
    points = [(cx + radius * (x * cos - y * sin), cy + radius * (x * sin + y * cos)) for x, y in SHAPES[r["shape"]]]
    img = Image.new("RGB", (r["size"], r["size"]), tuple(r["background"]))
    ImageDraw.Draw(img).polygon(points, fill=tuple(r["object"]))
    noise = np.random.default_rng(r["noise_seed"]).normal(0.0, r["noise_sigma"], (r["size"], r["size"], 3))
    pixels = np.asarray(img, dtype=np.float64) + noise
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


@dataclass
class SyntheticDataset(Dataset):
    """Options: ``classes`` (16), ``per_class`` (24), ``size`` in pixels (64), ``seed`` (0; drives both the
    images and the split) and ``test_fraction`` (0.5)."""

    OPTIONS: ClassVar[frozenset[str]] = frozenset({"classes", "per_class", "size", "seed", "test_fraction"})
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD,)  # "red triangle": what a class looks like

    id: str
    classes: int
    per_class: int
    size: int
    seed: int
    test_fraction: float
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_ref(cls, ref: Ref) -> SyntheticDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        test_fraction, seed = split_options(ref)
        return cls(
            id=str(ref),
            classes=int_option(ref, "classes", 16, minimum=1),
            per_class=int_option(ref, "per_class", 24, minimum=1),
            size=int_option(ref, "size", 64, minimum=16),
            seed=seed,
            test_fraction=test_fraction,
        )

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> Manifest:
        labels = [label for label in range(self.classes) for _ in range(self.per_class)]
        splits = stratified_split(labels, self.test_fraction, self.seed)
        items = []
        for position, (label, split) in enumerate(zip(labels, splits, strict=True)):
            index = position % self.per_class
            text = json.dumps(recipe(self.seed, self.classes, label, index, self.size), sort_keys=True)
            items.append(
                Item(
                    key=f"synthetic/{label}/{index}",
                    label=label,
                    class_name=f"class_{label:03d}",
                    split=split,
                    content=hashlib.sha256(text.encode()).hexdigest(),
                )
            )
        return Manifest(self.id, tuple(items))

    def class_text(self, class_name: str) -> str:
        shape, hue = class_look(self.seed, self.classes, int(class_name.removeprefix("class_")))
        return f"{COLOUR_NAMES[round(8 * (hue % 1.0)) % 8]} {shape}"

    def load_image(self, item: Item) -> Image.Image:
        index = int(item.key.rsplit("/", 1)[1])
        return draw(recipe(self.seed, self.classes, item.label, index, self.size))
