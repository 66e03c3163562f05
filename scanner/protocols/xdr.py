"""XDR (RFC 4506) encoding and decoding: small, typed and bounded.

The stdlib's ``xdrlib`` is gone in Python 3.13, so ONC RPC (NFS, MOUNT, portmap) rests on this.
Decoding never trusts a length from the wire: every variable-length item is checked against
the bytes actually left *and* a caller-given maximum before anything is allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MAX_OPAQUE = 1 << 20
"""Default upper bound for one variable-length opaque/string (1 MiB)."""
MAX_ARRAY = 1 << 16
"""Default upper bound for the element count of one array or list."""


class XDRError(ValueError):
    """Malformed or out-of-bounds XDR data."""


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _ranged(v: int, lo: int, hi: int, what: str) -> int:
    """``v`` if it is an integer in [lo, hi]; else ``XDRError`` (never ``struct.error``)."""
    if not isinstance(v, int):
        raise XDRError(f"{what} is not an integer: {v!r}")
    if not lo <= v <= hi:
        raise XDRError(f"{what} out of range: {v}")
    return v


class Packer:
    """Builds an XDR byte string."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def get_buffer(self) -> bytes:
        return b"".join(self._parts)

    def uint(self, v: int) -> Packer:
        self._parts.append(struct.pack(">I", _ranged(v, 0, 0xFFFFFFFF, "unsigned int")))
        return self

    def int32(self, v: int) -> Packer:
        self._parts.append(struct.pack(">i", _ranged(v, -0x80000000, 0x7FFFFFFF, "int")))
        return self

    def uhyper(self, v: int) -> Packer:
        self._parts.append(struct.pack(">Q", _ranged(v, 0, 0xFFFFFFFFFFFFFFFF, "unsigned hyper")))
        return self

    def hyper(self, v: int) -> Packer:
        self._parts.append(struct.pack(">q", _ranged(v, -(1 << 63), (1 << 63) - 1, "hyper")))
        return self

    def boolean(self, v: bool) -> Packer:
        return self.uint(1 if v else 0)

    def fopaque(self, n: int, data: bytes) -> Packer:
        """Fixed-length opaque of exactly ``n`` bytes."""
        if len(data) != n:
            raise XDRError(f"fixed opaque needs {n} bytes, got {len(data)}")
        self._parts.append(bytes(data) + b"\0" * _pad(n))
        return self

    def opaque(self, data: bytes) -> Packer:
        """Variable-length opaque: length then bytes, padded to 4."""
        self.uint(len(data))
        self._parts.append(bytes(data) + b"\0" * _pad(len(data)))
        return self

    def string(self, s: str | bytes) -> Packer:
        return self.opaque(s.encode() if isinstance(s, str) else s)

    def array(self, items: list[T], pack_item: Callable[[T], object]) -> Packer:
        """Variable-length array: count then items."""
        self.uint(len(items))
        for item in items:
            pack_item(item)
        return self

    def raw(self, data: bytes) -> Packer:
        """Already-encoded XDR (its length must be a multiple of 4)."""
        if len(data) % 4:
            raise XDRError("raw XDR must be a multiple of 4 bytes")
        self._parts.append(bytes(data))
        return self


class Unpacker:
    """Reads XDR from a byte string; every read is bounds-checked."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self._data = memoryview(bytes(data))
        self._pos = pos

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def done(self) -> None:
        """Raise unless every byte was consumed."""
        if self.remaining:
            raise XDRError(f"{self.remaining} unread bytes at end of XDR data")

    def rest(self) -> bytes:
        out = bytes(self._data[self._pos :])
        self._pos = len(self._data)
        return out

    def _take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise XDRError(f"truncated XDR: need {n} bytes at {self._pos}, have {self.remaining}")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def uint(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self._take(4))[0])

    def uhyper(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def hyper(self) -> int:
        return int(struct.unpack(">q", self._take(8))[0])

    def boolean(self) -> bool:
        v = self.uint()
        if v > 1:
            raise XDRError(f"bad XDR bool {v}")
        return v == 1

    def fopaque(self, n: int) -> bytes:
        out = self._take(n)
        self._take(_pad(n))
        return out

    def opaque(self, max_len: int = MAX_OPAQUE) -> bytes:
        n = self.uint()
        if n > max_len:
            raise XDRError(f"opaque length {n} exceeds the limit {max_len}")
        if n + _pad(n) > self.remaining:
            raise XDRError(f"opaque length {n} exceeds the {self.remaining} bytes left")
        return self.fopaque(n)

    def string(self, max_len: int = MAX_OPAQUE) -> str:
        return self.opaque(max_len).decode("utf-8", errors="replace")

    def array(self, unpack_item: Callable[[], T], max_items: int = MAX_ARRAY) -> list[T]:
        n = self.uint()
        if n > max_items:
            raise XDRError(f"array count {n} exceeds the limit {max_items}")
        # every XDR item is at least 4 bytes: a count above remaining/4 cannot be genuine
        if n > self.remaining // 4:
            raise XDRError(f"array count {n} exceeds the {self.remaining} bytes left")
        return [unpack_item() for _ in range(n)]

    def optional(self, unpack_item: Callable[[], T]) -> T | None:
        """XDR optional-data (``*T``): a bool then the item."""
        return unpack_item() if self.boolean() else None

    def linked_list(self, unpack_item: Callable[[], T], max_items: int = MAX_ARRAY) -> list[T]:
        """The RPC idiom ``struct *next``: (bool item)* terminated by FALSE."""
        out: list[T] = []
        while self.boolean():
            if len(out) >= max_items:
                raise XDRError(f"list longer than the limit {max_items}")
            out.append(unpack_item())
        return out
