"""Language codes and pair names: the one syntax every part checks them by.

A language code is 2 to 8 ASCII letters (`de`, `en`, `fra`); a pair is two different codes
joined by a hyphen (`de-en`), lowercase. `translator train-pairs`, MODELS entries, WORKER_PAIRS
and the translation requests all go through these functions. No torch, no other imports of the
package but its errors.
"""

from __future__ import annotations

from translator.errors import UserError


def valid_language(code: str) -> bool:
    """`de` -> True; `d`, `de1`, `dé` -> False."""
    return 2 <= len(code) <= 8 and code.isalpha() and code.isascii()


def valid_pair(pair: str) -> bool:
    """`de-en` -> True; `de-de`, `de`, `de-e` -> False (case as given: callers lowercase)."""
    src, sep, tgt = pair.partition("-")
    return bool(sep) and src != tgt and valid_language(src) and valid_language(tgt)


def lang_token(lang: str) -> str:
    """A multilingual model's target-language token of `lang` (`<2fr>`): a control symbol of its
    vocabulary that ends each source (translator/data/multilingual.py)."""
    return f"<2{lang}>"


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """`de-en,en-de` -> [("de", "en"), ("en", "de")]; duplicates and malformed names refused."""
    out: list[tuple[str, str]] = []
    for item in (p.strip().lower() for p in text.split(",")):
        if not item:
            continue
        if not valid_pair(item):
            raise UserError(f"pair {item!r} is not `src-tgt` with two different language codes "
                            "(2 to 8 letters each)")
        src, _, tgt = item.partition("-")
        if (src, tgt) in out:
            raise UserError(f"pair {item} is named twice")
        out.append((src, tgt))
    if not out:
        raise UserError("no pairs given")
    return out
