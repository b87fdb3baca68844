"""Language identification with Lingua (lingua-language-detector: n-gram models of 75
languages, maintained, in Rust): what `source=auto` and LibreTranslate's `/detect` use.

The detector considers many more languages than any server translates, so that a text in an
unserved language is recognised as such (and refused by name) instead of being forced onto
the nearest served one. Two modes, chosen by measurement (benchmarks/RESULTS.md, "Language
detection"): `low` (trigrams only: ~140 MB for all 75 languages, loads in a fraction of a
second) and `high` (up to 5-grams: better on a few words, but ~1.3 GB for all 75 languages
and seconds to load, so it is built over a smaller set). Imports no torch: the web uses it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

MODES = ("low", "high")

NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "az": "Azerbaijani", "be": "Belarusian",
    "bg": "Bulgarian", "bn": "Bengali", "bs": "Bosnian", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gu": "Gujarati", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh",
    "ko": "Korean", "la": "Latin", "lg": "Ganda", "lt": "Lithuanian", "lv": "Latvian",
    "mi": "Maori", "mk": "Macedonian", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay",
    "nb": "Norwegian Bokmål", "nl": "Dutch", "nn": "Norwegian Nynorsk", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sn": "Shona", "so": "Somali", "sq": "Albanian", "sr": "Serbian",
    "st": "Sotho", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu",
    "th": "Thai", "tl": "Tagalog", "tn": "Tswana", "tr": "Turkish", "ts": "Tsonga",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "xh": "Xhosa", "yo": "Yoruba",
    "zh": "Chinese", "zu": "Zulu",
}
"""English names of the ISO 639-1 codes Lingua knows (the pages show them)."""


class DetectionError(ValueError):
    """The detector cannot be built as configured (an unknown code, an unknown mode)."""


@dataclass(frozen=True)
class Guess:
    language: str  # ISO 639-1 code
    confidence: float  # 0-100, as LibreTranslate answers


class Detector:
    """Lingua over `languages` (ISO 639-1 codes; empty: all it knows) in `mode`; built on
    first use (thread-safe), then about a millisecond per text."""

    def __init__(self, mode: str = "low", languages: tuple[str, ...] = ()):
        if mode not in MODES:
            raise DetectionError(f"detection mode must be one of {', '.join(MODES)}, not "
                                 f"{mode!r}")
        unknown = [code for code in languages if code not in NAMES]
        if unknown:
            raise DetectionError(f"the language detector does not know {', '.join(unknown)}")
        self.mode, self.languages = mode, tuple(languages)
        self._lingua = None
        self._lock = threading.Lock()

    def _build(self):
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        if self.languages:
            codes = [getattr(IsoCode639_1, code.upper()) for code in self.languages]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        else:
            builder = LanguageDetectorBuilder.from_all_languages()
        if self.mode == "low":
            builder = builder.with_low_accuracy_mode()
        return builder.with_preloaded_language_models().build()

    def load(self) -> None:
        """Build the detector now (a server does it at start, not on its first request)."""
        with self._lock:
            if self._lingua is None:
                self._lingua = self._build()

    def detect(self, text: str, best: int = 3) -> list[Guess]:
        """The `best` likeliest languages of `text`, most likely first, confidences 0-100
        (rounded to 0.1) summing to at most 100; [] for a text without letters."""
        if not any(ch.isalpha() for ch in text):
            return []
        self.load()
        values = self._lingua.compute_language_confidence_values(text)
        return [Guess(v.language.iso_code_639_1.name.lower(), round(100 * v.value, 1))
                for v in values[:best] if v.value > 0]


@lru_cache(maxsize=4)
def detector(mode: str = "low", languages: tuple[str, ...] = ()) -> Detector:
    """The process's detector for these settings (one per process)."""
    return Detector(mode, languages)


def language_name(code: str) -> str:
    return NAMES.get(code, code)
