"""Any string a task can produce, made writable: csv, xlsx, html and the terminal.

A task may return (or raise with) strings that no file format holds as they are: lone
surrogates (``'\\ud800'``, which UTF-8 cannot encode), U+FFFE/U+FFFF and C0 controls
(which XML 1.0, hence xlsx, cannot hold), NUL. Each such character is shown as its
Python escape (``\\ud800``, ``\\uffff``, ``\\x00``); tab, newline and carriage return
stay. The state file keeps the exact string (JSON escapes it), so nothing is lost.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["clean_text", "clean_value", "MAX_CELL"]

#: Longest text an xlsx cell holds (Excel's limit); longer text is cut with a note.
MAX_CELL = 32_767

_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _escape(m: "re.Match[str]") -> str:
    n = ord(m.group())
    return "\\x%02x" % n if n < 256 else "\\u%04x" % n


def clean_text(text: str) -> str:
    """``text`` with every character some summary file cannot hold escaped."""
    return _UNWRITABLE.sub(_escape, text)


def clean_value(value: Any) -> Any:
    """A cell value with its text (if any) cleaned; other values as they are."""
    return clean_text(value) if isinstance(value, str) else value
