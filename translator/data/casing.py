"""Robust casing: ALL-CAPS and all-lowercase input is truecased before translation, and an
ALL-CAPS input gets an ALL-CAPS translation.

A model trained on normally cased text (Multi30K) has rarely seen "EIN MANN FÄHRT FAHRRAD." or
"ein mann fährt fahrrad": SentencePiece cuts capitals into single letters and the model
translates noise. So, as Moses' truecaser does, a `CasingTable` learnt from the training source
maps every word to its most frequent form (sentence-initial words are not counted, since they
are capitalised for position, not for the word). A segment whose letters are all upper case, or
all lower case, is rewritten word by word into those forms and its first letter capitalised;
the translation of an ALL-CAPS segment is upper-cased. In a normally cased segment, a run of
words in capitals ("DREI KINDER SPIELEN FUSSBALL auf der Wiese") is rewritten the same way,
known words only (`truecase_runs`); its translation is cased normally (the emphasis is not
carried over). Other normally cased input is left alone.
Words the table does not know are capitalised (most are names or, in German, nouns). Each
word with "ß" is also found by its "ss" spelling, since upper case has no "ß" ("STRASSE").

The table travels in the checkpoint (`casing`): `translator train` writes it, and
`translator calibrate` adds it to a checkpoint trained before it existed. Without one, casing
falls back to lower case with a capital first letter for ALL-CAPS input and leaves lower-case
input alone. The choice between this and case-augmented
training is measured in benchmarks/RESULTS.md ("Robust casing").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from enum import Enum

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 200_000  # most frequent word forms kept in a table
INFLECTIONS = ("s", "es", "n", "en", "e", "er", "ern", "in", "innen", "nen")
MIN_WORDS = 2  # one word in capitals is an acronym or a name, not an ALL-CAPS segment


class Casing(str, Enum):
    NORMAL = "normal"
    UPPER = "upper"
    LOWER = "lower"


class CasingCounts:
    """Word-form counts a `CasingTable` is learnt from; counts of parts of a corpus merge (in
    corpus order) into the counts of the whole, so they can be taken in parallel."""

    def __init__(self):
        self.words: Counter[str] = Counter()  # forms not at a sentence's start
        self.first: Counter[str] = Counter()  # forms at a sentence's start
        self.starts: Counter[bool] = Counter()  # sentences starting upper case / not

    def add(self, lines: Iterable[str]) -> CasingCounts:
        for line in lines:
            words = WORD.findall(line)
            self.words.update(words[1:])
            if words:
                self.first[words[0]] += 1
                self.starts[words[0][:1].isupper()] += 1
        return self

    def merge(self, other: CasingCounts) -> CasingCounts:
        self.words.update(other.words)
        self.first.update(other.first)
        self.starts.update(other.starts)
        return self


class CasingTable:
    """The most frequent form of each word (by its lower-cased key), learnt from text."""

    def __init__(self, forms: dict[str, str], capitalize_first: bool = True):
        self.forms = forms
        self.capitalize_first = capitalize_first  # do the training sentences start upper case?

    @classmethod
    def learn(cls, lines: Iterable[str], max_words: int = MAX_WORDS) -> CasingTable:
        return cls.from_counts(CasingCounts().add(lines), max_words)

    @classmethod
    def from_counts(cls, counts: CasingCounts, max_words: int = MAX_WORDS) -> CasingTable:
        forms: dict[str, str] = {}
        for form, _ in counts.words.most_common(max_words):
            forms.setdefault(form.lower(), form)
        for form, _ in counts.first.most_common(max_words):  # words seen only at a start
            if len(forms) < max_words:
                forms.setdefault(form.lower(), form)
        for key, form in list(forms.items()):  # "STRASSE".lower() is "strasse", not "straße"
            forms.setdefault(key.replace("ß", "ss"), form)
        return cls(forms, counts.starts[True] >= counts.starts[False])

    def to_dict(self) -> dict:
        return {"forms": dict(self.forms), "capitalize_first": self.capitalize_first}

    @classmethod
    def from_dict(cls, data: dict) -> CasingTable:
        if "forms" not in data:  # a table written as a plain mapping
            return cls(dict(data))
        return cls(dict(data["forms"]), bool(data.get("capitalize_first", True)))

    def knows(self, word: str) -> bool:
        return word.lower() in self.forms

    def familiar(self, word: str) -> bool:
        """Whether `word` is known, a known word inflected ("Geschlechts", "Spielerinnen"), a
        compound of known words, or hyphenated with a familiar part ("T-Shirt", "U-Bahn")."""
        if "-" in word:
            return any(self.familiar(part) for part in word.split("-") if part)
        low = word.lower()
        return self.knows(low) or self.compound(low) or any(
            low.endswith(end) and len(low) - len(end) >= 3 and low[: -len(end)] in self.forms
            for end in INFLECTIONS)

    def compound(self, word: str, min_part: int = 4) -> bool:
        """Whether `word` is two known words joined (German compounds: "Dschungellandschaft",
        "Lederjacke"; with a linking "s", "n", "en", "es" or "e": "Geburtstagstorte")."""
        low = word.lower()
        for i in range(min_part, len(low) - min_part + 1):
            left, right = low[:i], low[i:]
            if right not in self.forms:
                continue
            if left in self.forms or any(
                    left.endswith(link) and left[: -len(link)] in self.forms
                    and len(left) - len(link) >= min_part for link in ("s", "n", "en", "es", "e")):
                return True
        return False

    def form(self, word: str) -> str:
        """The usual form of `word`; an unknown word is capitalised."""
        return self.forms.get(word.lower()) or word[:1].upper() + word[1:].lower()


def casing_of(text: str) -> Casing:
    """UPPER if every cased letter of `text` is upper case, LOWER if every one is lower case
    (in at least MIN_WORDS words of two letters or more), else NORMAL."""
    if sum(1 for w in WORD.findall(text) if sum(c.isalpha() for c in w) > 1) < MIN_WORDS:
        return Casing.NORMAL
    upper = sum(c.isupper() for c in text)
    lower = sum(c.islower() for c in text)
    if upper and not lower:
        return Casing.UPPER
    if lower and not upper:
        return Casing.LOWER
    return Casing.NORMAL  # mixed, or a script without case (Hebrew, Chinese)


def truecase(text: str, table: CasingTable | None, first: bool = True) -> str:
    """Rewrite every word in its usual form (see the module docstring) and capitalise the first
    letter if the training sentences start so (and `first`: the text starts the sentence).
    Without a table the text is lower-cased with a capital first letter."""
    if table is None:
        return capitalize_first(text.lower()) if first else text.lower()
    text = WORD.sub(lambda m: table.form(m.group()) if not m.group().isdigit()
                    else m.group(), text)
    return capitalize_first(text) if first and table.capitalize_first else text


def _in_capitals(word: str) -> bool:
    """A word of two letters or more, every letter upper case."""
    return sum(c.isalpha() for c in word) > 1 and not any(c.islower() for c in word)


def truecase_runs(text: str, table: CasingTable, first: bool = True) -> str:
    """Rewrite runs of words in capitals inside normally cased text ("DREI KINDER SPIELEN
    FUSSBALL auf der Wiese"): in a run of at least MIN_WORDS such words (digits and single
    letters between them keep the run going; a word with a lower-case letter ends it), each
    word the table knows takes its usual form; an unknown one stays as written (in a sentence
    that is otherwise cased normally, it is more likely an acronym or a name: "NASA", "USA").
    A run that starts the text (and `first`) gets a capital first letter if the training
    sentences start so."""
    words = list(WORD.finditer(text))
    out, pos, i = [], 0, 0
    while i < len(words):
        j = i
        while j < len(words) and not any(c.islower() for c in words[j].group()):
            j += 1
        run = words[i:j]
        if sum(_in_capitals(w.group()) for w in run) >= MIN_WORDS:
            for k, m in enumerate(run):
                word = m.group()
                form = table.forms.get(word.lower(), word) if _in_capitals(word) else word
                if k == 0 and i == 0 and first and table.capitalize_first:
                    form = capitalize_first(form)
                out += [text[pos:m.start()], form]
                pos = m.end()
        i = max(j, i + 1)
    out.append(text[pos:])
    return "".join(out)


def capitalize_first(text: str) -> str:
    for i, char in enumerate(text):
        if char.isalpha():
            upper = char.upper()
            return text[:i] + (upper if len(upper) == 1 else char) + text[i + 1:]
    return text
