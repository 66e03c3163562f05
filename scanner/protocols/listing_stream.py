"""Listing pages parsed as they arrive: ``parse_listing`` one piece of the body at a time.

``ListingStream(path=..., content_type=..., server=..., max_entries=...)`` is fed the body's
bytes as the HTTP client takes them off the connection (``feed(data) -> done``) and answers at
``close()`` exactly what ``parse_listing`` answers for all the bytes fed, with the same
arguments. ``feed`` says ``done`` as soon as that answer is known to be a listing cut at its
entry bound (``truncated``): the rest of the page cannot change it, so the client stops
reading and closes the connection. A 100,000-entry autoindex page is then read up to about
``max_entries`` rows instead of up to the byte bound.

Why the answer is the same, not merely similar: ``parse_listing`` feeds its HTML parsers (the
family tokenizer of ``listing``, then if needed the tree builder of ``listing_structure``) in
blocks of ``BLOCK`` characters of the decoded page and looks at its anchor bound between
blocks. This module decodes incrementally (a ``codecs`` incremental decoder: a character split
between two pieces is decoded once whole), cuts the text into the same blocks at the same
offsets, feeds the same parsers and applies the same checks at the same points, reusing
``listing``'s and ``listing_structure``'s own functions for everything else. The decoded text
is kept until the family tokenizer has decided, so that a page no family claims is handed to
the structural tree builder from its first block, as ``parse_listing`` does.

Streamed: HTML (every family and the structural ``generic`` listings). Buffered (the bytes
are kept and ``parse_listing`` runs at ``close``): JSON and XML bodies (nginx's json/xml
autoindex formats, ``generic-json``; a JSON or XML document is parsed whole), and HTML in a
charset outside ``STREAM_CHARSETS`` (an incremental decoder not checked to decode exactly as
the whole-body decode). Those never say ``done``; the byte bound alone ends them.

``min_bytes``: ``done`` is not said before that many bytes were fed (the caller's other uses
of the body, like the HTTP probe's soft-404 comparison of the first 64 KiB, then see the same
bytes as before). The answer does not depend on it.
"""

from __future__ import annotations

import codecs

from scanner.protocols.listing import (
    ParsedListing,
    _charset,
    _dir_base,
    _family_result,
    _generic,
    _Tokenizer,
    parse_listing,
)
from scanner.protocols.listing_structure import MAX_TOKENS, _TreeBuilder, accepted, analyse_tree

BLOCK = 32768
"""Characters per parser feed: the block size of ``listing`` and ``listing_structure``."""
SNIFF = 64
"""Bytes ``parse_listing`` looks at to tell JSON and XML from HTML."""
ANCHOR_SLACK = 64
"""Anchors read beyond ``max_entries`` before a page counts as cut (as in ``listing``)."""

STREAM_CHARSETS = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "iso8859-2", "iso8859-5",
     "iso8859-15", "cp1250", "cp1251", "cp1252", "cp437", "cp850", "koi8-r", "mac-roman",
     "shift_jis", "euc_jp", "gbk", "gb2312", "gb18030", "big5", "euc_kr",
     "utf-16-le", "utf-16-be"}
)  # fmt: skip
"""Codecs (``codecs.lookup(name).name``) decoded incrementally: each is checked by a property
test to give, over any split of any bytes, exactly the whole-body decode."""


def incremental_decoder(content_type: str) -> codecs.IncrementalDecoder | None:
    """The decoder ``parse_listing`` uses for an HTML body of this Content-Type, incremental;
    None when that charset is not one of ``STREAM_CHARSETS`` (decode the whole body then)."""
    name = _charset(content_type)
    if name:
        try:  # as bytes.decode: LookupError for unknown names and non-text codecs (hex, rot13)
            b"a".decode(name, errors="replace")  # (an empty input is not even looked up)
        except LookupError:
            name = None
    codec = codecs.lookup(name or "utf-8")
    if codec.name not in STREAM_CHARSETS:
        return None
    return codec.incrementaldecoder(errors="replace")


class ListingStream:
    """``parse_listing`` fed piece by piece; see the module."""

    def __init__(
        self, *, path: str = "/", content_type: str = "", server: str = "",
        max_entries: int = 20000, min_bytes: int = 0,
    ) -> None:  # fmt: skip
        self.path = path
        self.content_type = content_type
        self.server = server
        self.max_entries = max_entries
        self.min_bytes = min_bytes
        self.fed = 0
        """Bytes fed so far (also those after ``done``, which are not parsed)."""
        self._base = _dir_base(path)
        self._head = bytearray()  # the first bytes, until JSON/XML/HTML is decided
        self._raw: bytearray | None = None  # buffered mode: the whole body
        self._decoder: codecs.IncrementalDecoder | None = None  # streamed mode
        self._pending = ""  # decoded text after the last whole block
        self._blocks: list[str] = []  # whole blocks, while the tree builder may need them
        self._family: _Tokenizer | None = _Tokenizer()
        self._tree: _TreeBuilder | None = None
        self._decided = False  # the answer is known (``_result``); later text is not parsed
        self._result: ParsedListing | None = None
        self._closed = False

    # -- feeding --------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """The answer is a listing cut at its entry bound, and ``min_bytes`` were fed."""
        cut = self._decided and self._result is not None and self._result.truncated
        return cut and self.fed >= self.min_bytes

    def feed(self, data: bytes) -> bool:
        """Take the next piece of the body; True when no further byte can change the answer."""
        if self._closed:
            raise ValueError("feed after close")
        self.fed += len(data)
        if self._raw is not None:
            self._raw += data
        elif self._decoder is not None:
            if not self._decided:
                self._text(self._decoder.decode(data))
        else:
            self._head += data
            if len(self._head) >= SNIFF:
                self._start()
        return self.done

    def close(self) -> ParsedListing | None:
        """The listing on the page fed (None: no listing), as ``parse_listing`` answers it."""
        if self._closed:
            return self._result
        self._closed = True
        if self._raw is None and self._decoder is None:
            self._start()
        if self._raw is not None:
            self._result = parse_listing(
                bytes(self._raw), path=self.path, content_type=self.content_type,
                server=self.server, max_entries=self.max_entries,
            )  # fmt: skip
            return self._result
        if not self._decided:
            assert self._decoder is not None
            self._text(self._decoder.decode(b"", True))
        if not self._decided:
            self._last_block(self._pending)
        return self._result

    # -- what kind of body ----------------------------------------------------------------------

    def _start(self) -> None:
        head = bytes(self._head)
        ct = self.content_type.lower()
        sniff = head[:SNIFF].lstrip()
        if "json" in ct or sniff.startswith((b"[", b"{")):
            self._raw = bytearray(head)  # JSON: parsed whole
            return
        if sniff.startswith(b"<?xml") or "xml" in ct:
            self._raw = bytearray(head)  # XML (nginx's <list>, or no listing): parsed whole
            return
        self._decoder = incremental_decoder(self.content_type)
        if self._decoder is None:
            self._raw = bytearray(head)  # a charset not streamed: decoded whole
            return
        self._text(self._decoder.decode(head))

    # -- HTML: the same blocks, the same parsers, the same checks as listing.parse_listing --------

    def _text(self, text: str) -> None:
        self._pending += text
        while len(self._pending) >= BLOCK and not self._decided:
            block = self._pending[:BLOCK]
            self._pending = self._pending[BLOCK:]
            self._block(block)

    def _block(self, block: str) -> None:
        tok = self._family
        if tok is None:
            self._tree_block(block)
            return
        self._blocks.append(block)
        try:
            tok.feed(block)
        except Exception:  # as listing: a page HTMLParser rejects is no family's
            self._family_gives(None)
            return
        if len(tok.anchors) > self.max_entries + ANCHOR_SLACK:
            self._family_gives(self._family_result(tok, cut=True))

    def _family_result(self, tok: _Tokenizer, *, cut: bool) -> ParsedListing | None:
        return _family_result(tok, self._base, self.server.lower(), self.max_entries, cut)

    def _last_block(self, block: str) -> None:
        """The page's end: its last, partial block (possibly empty), then the parsers' close."""
        if block:
            self._block(block)
        if self._decided:
            return
        tok = self._family
        if tok is not None:
            try:
                tok.close()
            except Exception:
                self._family_gives(None)
            else:
                self._family_gives(self._family_result(tok, cut=False))
        if not self._decided:
            self._tree_close()

    def _family_gives(self, family: ParsedListing | None) -> None:
        """The family tokenizer's answer; None hands the page (from its first block) to the
        structural tree builder."""
        self._family = None
        if family is not None:
            self._decide(family)
            return
        blocks, self._blocks = self._blocks, []
        self._tree = _TreeBuilder()
        for block in blocks:
            self._tree_block(block)
            if self._decided:
                return

    def _tree_block(self, block: str) -> None:
        tb = self._tree
        assert tb is not None
        if tb.tokens > MAX_TOKENS or len(tb.anchors) > self.max_entries + ANCHOR_SLACK:
            self._tree_result(tb, truncated=True)
            return
        try:
            tb.feed(block)
        except (AssertionError, ValueError):  # as listing_structure.analyse: no listing
            self._decide(None)

    def _tree_close(self) -> None:
        tb = self._tree
        assert tb is not None
        try:
            tb.close()
        except (AssertionError, ValueError):
            self._decide(None)
            return
        self._tree_result(tb, truncated=False)

    def _tree_result(self, tb: _TreeBuilder, *, truncated: bool) -> None:
        found = accepted(analyse_tree(tb, self._base, truncated))
        self._decide(_generic(found, self.max_entries))

    def _decide(self, result: ParsedListing | None) -> None:
        self._decided = True
        self._result = result
