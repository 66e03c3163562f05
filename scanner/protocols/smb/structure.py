"""Fixed-layout little-endian structures declared by field name.

A structure is a dataclass whose fields carry their wire type in the annotation::

    @dataclass(frozen=True)
    class TreeConnectResponseBody(Structure):
        structure_size: U16
        share_type: U8
        reserved: U8
        share_flags: U32
        capabilities: U32
        maximal_access: U32

``TreeConnectResponseBody.unpack_from(buf, offset)`` reads one (typed attributes, never
``fields[10]``), ``body.pack()`` writes it back, ``TreeConnectResponseBody.size`` is its length.
Only the fixed part is declared; variable buffers (names, blobs, contexts) stay with the message
that addresses them by offset. All numbers are little-endian, as SMB2, SMB1 and NTLMSSP are.
"""

from __future__ import annotations

import struct
import typing
from dataclasses import fields
from typing import Annotated, Any, ClassVar, Self


class Wire:
    """The wire type of a field: a ``struct`` code (``"H"``, ``"16s"``)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __repr__(self) -> str:
        return f"Wire({self.code!r})"


U8 = Annotated[int, Wire("B")]
U16 = Annotated[int, Wire("H")]
U32 = Annotated[int, Wire("I")]
U64 = Annotated[int, Wire("Q")]
Bytes4 = Annotated[bytes, Wire("4s")]
Bytes8 = Annotated[bytes, Wire("8s")]
Bytes16 = Annotated[bytes, Wire("16s")]


class Structure:
    """Base of the declared structures (subclasses are dataclasses)."""

    _layout: ClassVar[struct.Struct | None] = None
    _names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def layout(cls) -> struct.Struct:
        """The ``struct.Struct`` of the declared fields, built once from the annotations."""
        own = cls.__dict__.get("_layout")
        if own is not None:
            return own
        hints = typing.get_type_hints(cls, include_extras=True)
        codes, names = [], []
        for f in fields(cls):  # type: ignore[arg-type]
            wires = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Wire)]
            if len(wires) != 1:
                raise TypeError(f"{cls.__name__}.{f.name} has no wire type")
            codes.append(wires[0].code)
            names.append(f.name)
        layout = struct.Struct("<" + "".join(codes))
        cls._layout, cls._names = layout, tuple(names)
        return layout

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        cls.layout()
        return cls._names

    @classmethod
    def size(cls) -> int:
        return cls.layout().size

    @classmethod
    def unpack_from(cls, buffer: bytes, offset: int = 0) -> Self:
        """Read one from ``buffer`` at ``offset`` (``struct.error`` if it is too short)."""
        values = cls.layout().unpack_from(buffer, offset)
        # the values come from the layout itself: skip the (frozen) dataclass __init__
        instance = cls.__new__(cls)
        instance.__dict__.update(zip(cls._names, values, strict=True))
        return instance

    def pack(self) -> bytes:
        layout = self.layout()
        values: list[Any] = [getattr(self, name) for name in self._names]
        return layout.pack(*values)
