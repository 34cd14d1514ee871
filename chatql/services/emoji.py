"""Is this one emoji? A single emoji grapheme (with its modifiers, ZWJ sequence, flag or
keycap), or a `:shortcode:` of at most 32 characters."""

from __future__ import annotations

import re
import unicodedata

SHORTCODE_RE = re.compile(r"^:[a-z0-9_+\-]{1,30}:$")
ZWJ = "\u200d"
VARIATION_16 = "\ufe0f"
KEYCAP = "\u20e3"
MAX_CODEPOINTS = 16


def _is_pictograph(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) == "So" or 0x1F000 <= code <= 0x1FAFF


def _is_modifier(char: str) -> bool:
    code = ord(char)
    return char == VARIATION_16 or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def is_emoji(text: str) -> bool:
    if SHORTCODE_RE.match(text):
        return True
    if not text or len(text) > MAX_CODEPOINTS:
        return False
    if len(text) == 2 and all(_is_regional(c) for c in text):
        return True  # a flag
    if len(text) in (2, 3) and text[0] in "#*0123456789" and text[-1] == KEYCAP:
        return text[1:-1] in ("", VARIATION_16)
    # pictograph (modifier)* (ZWJ pictograph (modifier)*)*
    expect_pictograph = True
    for char in text:
        if expect_pictograph:
            if not _is_pictograph(char):
                return False
            expect_pictograph = False
        elif char == ZWJ:
            expect_pictograph = True
        elif not _is_modifier(char):
            return False
    return not expect_pictograph
