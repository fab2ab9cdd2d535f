"""Binary PGM (P5) images and a box-filter downscale; enough for product thumbnails."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    pixels: bytes  # one byte per pixel, row-major

    def to_pgm(self) -> bytes:
        return b"P5\n%d %d\n255\n" % (self.width, self.height) + self.pixels


def read_pgm(data: bytes) -> Image:
    parts = data.split(maxsplit=4)
    if parts[0] != b"P5":
        raise ValueError("not a binary PGM image")
    width, height, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    if maxval != 255:
        raise ValueError(f"unsupported maxval {maxval}")
    pixels = parts[4][: width * height]
    return Image(width, height, pixels)


def thumbnail(image: Image, box: int) -> Image:
    """Downscale so that the longer side is at most ``box`` pixels (box filter)."""
    scale = max(1, -(-max(image.width, image.height) // box))
    width, height = max(1, image.width // scale), max(1, image.height // scale)
    out = bytearray(width * height)
    for y in range(height):
        for x in range(width):
            total = 0
            for dy in range(scale):
                row = (y * scale + dy) * image.width
                total += sum(image.pixels[row + x * scale: row + x * scale + scale])
            out[y * width + x] = total // (scale * scale)
    return Image(width, height, bytes(out))
