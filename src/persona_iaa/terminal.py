"""Text shown on a terminal: the one place that makes untrusted text (file names, messages) safe to print.

A file name may hold escape sequences (``ESC ] 0;...``, ``ESC [ 2 J``) that retitle, clear or
recolour a terminal, bidirectional overrides that make it read backwards, or bytes that are not
valid UTF-8 (kept by Python as lone surrogates, which ``print`` cannot encode). Everything printed
for a person goes through :func:`printable`; files keep the exact text.
"""
from __future__ import annotations

import unicodedata

#: Bidirectional formatting characters (embeddings, overrides, isolates): invisible, they reorder the text.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """``text`` with control characters, bidi controls and undecodable bytes written as ``\\xNN``/``\\uNNNN``.

    An undecodable byte (a surrogate from ``surrogateescape``) is shown as the byte it stands for,
    so ``caf\\xe9.jpg`` names the Latin-1 file as ``ls -b`` would.
    """
    if text.isprintable():  # the common case: nothing to escape (spaces and all printable letters)
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid in the file system's encoding
        return f"\\x{code - 0xDC00:02x}"
    if char in _BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs"):
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char
