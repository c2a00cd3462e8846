"""Cheap builders for the FakeProvider's hostile bodies: huge, compressed, nested or broken.

They exist so a test can send a 256 MB body or a 512 MB gzip bomb without the *server* paying
for it: big payloads are a small repeated block written many times, and a gzip bomb is one
compressed block repeated (a full flush resets the compressor, so every block compresses to
the same bytes) behind a header and before a trailer computed once and cached.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "BLOCK",
    "deep_nesting",
    "filler_chunks",
    "gzip_bomb",
    "mutate_usage",
    "spliced_json",
]

BLOCK = 1 << 20
_FILL = b"a" * BLOCK
_USAGE_KEYS = ("usage", "usageMetadata")


def filler_chunks(size: int, block: int = BLOCK) -> Iterator[bytes]:
    """``size`` bytes of ``a`` in blocks of at most ``block`` bytes (one shared buffer)."""
    fill = _FILL if block == BLOCK else b"a" * block
    full, rest = divmod(max(0, size), block)
    for _ in range(full):
        yield fill
    if rest:
        yield fill[:rest]


def spliced_json(head: bytes, size: int, tail: bytes) -> tuple[list[bytes], int]:
    """``head + a*size + tail`` as chunks, and its total length (no big allocation)."""
    chunks = [head, *filler_chunks(size), tail]
    return chunks, len(head) + max(0, size) + len(tail)


@functools.lru_cache(maxsize=8)
def gzip_bomb(head: bytes, size: int, tail: bytes) -> bytes:
    """A gzip member that decodes to ``head + a*size + tail``; about ``size / 1000`` bytes."""
    blocks, rest = divmod(max(0, size), BLOCK)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)]
    one = comp.compress(_FILL) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    if blocks:
        parts.append(one * blocks)
        # a rolling crc over the shared buffer: ~0.1 ms per MB, paid once per size (cached)
        for _ in range(blocks):
            crc = zlib.crc32(_FILL, crc)
    if rest:
        parts.append(comp.compress(_FILL[:rest]))
        crc = zlib.crc32(_FILL[:rest], crc)
    parts.append(comp.compress(tail) + comp.flush(zlib.Z_FINISH))
    crc = zlib.crc32(tail, crc)
    total = len(head) + max(0, size) + len(tail)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF)
    return header + b"".join(parts) + trailer


def deep_nesting(data: Mapping[str, Any], depth: int) -> bytes:
    """``data`` as JSON with an extra first field holding ``depth`` nested lists."""
    body = json.dumps(data, separators=(",", ":")).encode()
    nested = b"[" * depth + b"]" * depth
    return b'{"nested":' + nested + (b"," + body[1:] if len(body) > 2 else b"}")


def mutate_usage(data: Any, value: Any) -> Any:
    """``data`` with every numeric count inside a usage object replaced by ``value(old)``."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, item in data.items():
            if key in _USAGE_KEYS and isinstance(item, dict):
                out[key] = _replace_counts(item, value)
            else:
                out[key] = mutate_usage(item, value)
        return out
    if isinstance(data, list):
        return [mutate_usage(item, value) for item in data]
    return data


def _replace_counts(usage: dict[str, Any], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in usage.items():
        if isinstance(item, dict):
            out[key] = _replace_counts(item, value)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out[key] = value(item)
        else:
            out[key] = item
    return out
