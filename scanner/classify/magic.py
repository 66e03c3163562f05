"""Content types from a file's first bytes (``--sample-bytes N``, intrusive, off by default).

Probes that were allowed to read the first N bytes of a few files (``ctx.sample_bytes > 0``) call
``sniff(first_bytes)`` and record the result in the finding's evidence as
``evidence["sniffed"] = {path: type}`` (a few entries; ``None`` when unrecognised). Triage maps the
types to categories with ``SNIFF_CATEGORY`` (e.g. a sniffed ``wav`` is a confirmed recording) and
masks the paths. ``choose_samples`` picks which files to read: the interesting ones first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scanner.classify.rules import default_rules, split_name
from scanner.models import Entry

# The type names ``sniff`` returns, and the rule category each one confirms.
SNIFF_CATEGORY: dict[str, str] = {
    "wav": "recording",
    "mp3": "recording",
    "ogg": "recording",
    "opus": "recording",
    "flac": "recording",
    "amr": "recording",
    "m4a": "recording",
    "aac": "recording",
    "wma": "recording",
    "au": "recording",
    "aiff": "recording",
    "sqlite": "database",
    "pgdump": "database",
    "sql": "database",
    "vmdk": "disk-image",
    "qcow2": "disk-image",
    "vhd": "disk-image",
    "vhdx": "disk-image",
    "kdbx": "credentials",
    "private-key": "credentials",
    "dicom": "medical",
    "bkf": "backup",
}

_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_KDBX = bytes.fromhex("03d9a29a67fb4bb5")
_KDB = bytes.fromhex("03d9a29a65fb4bb5")
_OLE = bytes.fromhex("d0cf11e0a1b11ae1")

# (prefix, type) checked in order at offset 0.
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"SQLite format 3\x00", "sqlite"),
    (b"ID3", "mp3"),
    (b"fLaC", "flac"),
    (b"#!AMR", "amr"),
    (b".snd", "au"),
    (_ASF, "wma"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"%PDF-", "pdf"),
    (b"KDMV", "vmdk"),
    (b"# Disk DescriptorFile", "vmdk"),
    (b"QFI\xfb", "qcow2"),
    (b"conectix", "vhd"),
    (b"vhdxfile", "vhdx"),
    (_KDBX, "kdbx"),
    (_KDB, "kdbx"),
    (b"PGDMP", "pgdump"),
    (b"-- MySQL dump", "sql"),
    (b"-- MariaDB dump", "sql"),
    (b"-- PostgreSQL database dump", "sql"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (_OLE, "ole"),
    (b"TAPE", "bkf"),
    (b"\x7fELF", "elf"),
    (b"MZ", "exe"),
)

# MPEG audio: bitrate index 1111 and sample-rate index 11 are invalid.
_MPEG_LAYERS = {1: "mp3", 2: "mp3", 3: "mp3"}  # layer bits 01=III, 10=II, 11=I


def _mpeg_frame(b: bytes) -> str | None:
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return None
    version = (b[1] >> 3) & 0x03
    layer = (b[1] >> 1) & 0x03
    bitrate = (b[2] >> 4) & 0x0F
    rate = (b[2] >> 2) & 0x03
    if layer == 0:
        # ADTS AAC: 12-bit sync 0xFFF, layer 00; sampling index (4 bits) <= 12.
        if (b[1] & 0xF0) == 0xF0 and ((b[2] >> 2) & 0x0F) <= 12:
            return "aac"
        return None
    if version == 1 or bitrate == 0x0F or rate == 0x03:
        return None
    return _MPEG_LAYERS[layer]


def sniff(first_bytes: bytes) -> str | None:
    """The content type of a file from its first bytes, or None when unrecognised."""
    b = bytes(first_bytes[:4096])
    if not b:
        return None
    if b[:4] == b"RIFF" and len(b) >= 12:
        form = b[8:12]
        return {b"WAVE": "wav", b"AVI ": "avi", b"WEBP": "webp"}.get(form, "riff")
    if b[:4] == b"RF64" and b[8:12] == b"WAVE":
        return "wav"
    if b[:4] == b"FORM" and b[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if b[:4] == b"OggS":
        return "opus" if b"OpusHead" in b[:128] else "ogg"
    if b[4:8] == b"ftyp" and len(b) >= 12:
        brand = b[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "m4a"
        if brand.startswith(b"3g"):
            return "3gp"
        return "mp4"
    if len(b) >= 132 and b[128:132] == b"DICM":
        return "dicom"
    if len(b) >= 262 and b[257:262] == b"ustar":
        return "tar"
    for prefix, kind in _PREFIXES:
        if b.startswith(prefix):
            return kind
    if b.startswith(b"-----BEGIN "):
        head = b[:64]
        if b"PRIVATE KEY" in head:
            return "private-key"
        if b"CERTIFICATE" in head:
            return "certificate"
        return "pem"
    return _mpeg_frame(b)


def choose_samples(entries: Iterable[Entry], count: int = 3) -> list[Entry]:
    """Which files to read the first bytes of: up to ``count``, one per extension, the
    classified ones (by the default rules) first, never directories or empty files."""
    rules = default_rules()
    scored: list[tuple[int, int, Entry]] = []
    for i, e in enumerate(entries):
        if e.is_dir or e.size == 0:
            continue
        cats = rules.classify_entry(e)
        scored.append((-sum(cats.values()), i, e))
        if len(scored) >= 5000:
            break
    scored.sort(key=lambda t: (t[0], t[1]))
    out: list[Entry] = []
    seen_ext: set[str] = set()
    for _, _, e in scored:
        _, exts = split_name(e.path)
        ext = exts[0].lower() if exts else ""
        if ext in seen_ext:
            continue
        seen_ext.add(ext)
        out.append(e)
        if len(out) >= count:
            break
    return out


def sniff_evidence(samples: Mapping[str, bytes], limit: int = 8) -> dict[str, str | None]:
    """``evidence["sniffed"]`` for a probe: ``{path: sniff(first_bytes)}``, at most ``limit``."""
    out: dict[str, str | None] = {}
    for path, data in samples.items():
        if len(out) >= limit:
            break
        out[path] = sniff(data)
    return out
