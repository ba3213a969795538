#!/usr/bin/python3
"""Writes digits.csv: 8x8 images of handwritten-looking digits, made the way the UCI "optical
recognition of handwritten digits" set was made (a 32x32 bitmap counted in 4x4 blocks, so each
pixel is 0..16), but drawn here from stroke templates with random slant, scale, shift, stroke
width and jitter. Deterministic: the same seed gives the same file.

    /usr/bin/python3 examples/data/make_digits.py [--count 2000] [--seed 7] [--out examples/data/digits.csv]

Each line: label,p0,...,p63 (row-major pixels, 0..16).
"""
import argparse
import math

import numpy as np


def arc(cx, cy, rx, ry, start_deg, end_deg, steps=16):
    """Points of an elliptic arc (angles in degrees, 0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start_deg, end_deg, steps))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


# Each digit: a list of polylines in the unit square (x right, y down).
TEMPLATES = {
    0: [arc(0.5, 0.5, 0.28, 0.4, 0, 360, 24)],
    1: [[(0.35, 0.25), (0.52, 0.1), (0.52, 0.9)]],
    2: [arc(0.5, 0.32, 0.25, 0.2, 170, 370) + [(0.25, 0.88), (0.78, 0.88)]],
    3: [arc(0.48, 0.3, 0.24, 0.19, 200, 450), arc(0.48, 0.68, 0.27, 0.21, 270, 520)],
    4: [[(0.66, 0.9), (0.66, 0.1), (0.2, 0.64), (0.82, 0.64)]],
    5: [[(0.76, 0.1), (0.32, 0.1), (0.28, 0.46)] + arc(0.48, 0.66, 0.26, 0.22, 240, 500)],
    6: [[(0.7, 0.1), (0.45, 0.3), (0.3, 0.62)] + arc(0.5, 0.68, 0.21, 0.2, 180, 540)],
    7: [[(0.2, 0.1), (0.8, 0.1), (0.42, 0.9)], [(0.35, 0.5), (0.7, 0.5)]],
    8: [arc(0.5, 0.29, 0.19, 0.18, 0, 360), arc(0.5, 0.7, 0.23, 0.2, 0, 360)],
    9: [arc(0.48, 0.32, 0.22, 0.21, 0, 360), [(0.7, 0.34), (0.66, 0.62), (0.56, 0.9)]],
}


def segment_distance(px, py, a, b):
    """Distance from each grid point (px, py) to the segment a-b."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.zeros_like(px) if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def draw(label, rng):
    """One 8x8 image (values 0..16) of `label` with random distortions."""
    angle = math.radians(rng.uniform(-14, 14))
    shear = rng.uniform(-0.25, 0.25)
    sx, sy = rng.uniform(0.7, 1.05), rng.uniform(0.78, 1.05)
    tx, ty = rng.uniform(-0.09, 0.09), rng.uniform(-0.07, 0.07)
    cos, sin = math.cos(angle), math.sin(angle)

    def place(x, y):
        x, y = x - 0.5, y - 0.5
        x, y = x + shear * y, y
        x, y = x * sx, y * sy
        x, y = cos * x - sin * y, sin * x + cos * y
        return x + 0.5 + tx, y + 0.5 + ty

    grid = (np.arange(32) + 0.5) / 32
    px, py = np.meshgrid(grid, grid)
    distance = np.full(px.shape, np.inf)
    for line in TEMPLATES[label]:
        points = [place(x + rng.normal(0, 0.025), y + rng.normal(0, 0.025)) for x, y in line]
        for a, b in zip(points, points[1:]):
            distance = np.minimum(distance, segment_distance(px, py, a, b))
    bitmap = distance < rng.uniform(0.045, 0.085)
    flips = rng.random(bitmap.shape) < 0.02
    bitmap = np.logical_xor(bitmap, flips)
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="examples/data/digits.csv")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with open(args.out, "w") as out:
        for i in range(args.count):
            label = int(rng.integers(10))
            image = draw(label, rng)
            out.write(str(label) + "," + ",".join(str(int(v)) for v in image.ravel()) + "\n")


if __name__ == "__main__":
    main()
