"""Deterministic placeholder media bytes (JPEG, GIF, MP3, MP4) for messages sent without data,
and real JPEG pictures for avatars."""

from __future__ import annotations

import functools
import hashlib
import io

from PIL import Image


def _filler(seed: str, size: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def jpeg(seed: str, size: int = 2048) -> bytes:
    """JPEG-looking bytes: SOI + JFIF APP0 header, filler, EOI. Same seed, same bytes."""
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return header + _filler(seed, max(size - len(header) - 2, 0)) + b"\xff\xd9"


@functools.cache
def picture(seed: str, side: int = 96) -> bytes:
    """A real JPEG (Pillow), ``side`` × ``side`` pixels, as webwxgeticon serves avatars: two
    colours from ``seed`` in quarters, so that different seeds look different to a person.
    Same seed, same bytes (cached: Pillow's encoder is deterministic within a version)."""
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", (side, side), tuple(digest[0:3]))
    half = side // 2
    image.paste(tuple(digest[3:6]), (0, 0, half, half))
    image.paste(tuple(digest[3:6]), (half, half, side, side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def gif(seed: str, size: int = 1024) -> bytes:
    """GIF89a-looking bytes ending with the trailer ``;``."""
    header = b"GIF89a\x10\x00\x10\x00\x80\x00\x00"
    return header + _filler(seed, max(size - len(header) - 1, 0)) + b";"


def mp3(seed: str, size: int = 4096) -> bytes:
    """MP3-looking bytes: an ID3v2 header then filler."""
    header = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    return header + _filler(seed, max(size - len(header), 0))


def mp4(seed: str, size: int = 8192) -> bytes:
    """MP4-looking bytes: an ``ftyp`` box then filler."""
    header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return header + _filler(seed, max(size - len(header), 0))


def document(seed: str, size: int = 1500) -> bytes:
    """Arbitrary file bytes."""
    return _filler(seed, size)
