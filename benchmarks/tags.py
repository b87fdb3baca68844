"""Inline tags placed by the model's alignment, on real sentences: every test_2016_flickr
source sentence holding a noun of a bilingual list written for Multi30K (NOUNS: 60 German
nouns and their English translations) gets a <b> around the first such noun, as an HTML
paragraph, and is translated through the HTML format with `Translator.translate_aligned`
(what document jobs do). Reported: how often the <b> holds a translation of that noun (and
nothing else but at most one article/adjective word more), how often it is empty, and
whether the output without its tags is the translation of the untagged sentence; and the
first figure again among the sentences whose output holds a listed translation of the noun
(where the model did not translate the noun, no placement can be right).

    python benchmarks/tags.py --checkpoint runs/quick/best.pt [--json F]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import time

import lxml.html

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import MULTI30K_DIR
from translator.formats import read_file, translate_parsed

NOUNS = {
    "Mann": {"man", "guy"}, "Männer": {"men"}, "Frau": {"woman", "lady"},
    "Frauen": {"women"}, "Kind": {"child", "kid"}, "Kinder": {"children", "kids"},
    "Junge": {"boy"}, "Jungen": {"boys", "boy"}, "Mädchen": {"girl", "girls"},
    "Hund": {"dog"}, "Hunde": {"dogs"}, "Straße": {"street", "road"},
    "Wasser": {"water"}, "Ball": {"ball"}, "Fahrrad": {"bike", "bicycle"},
    "Hemd": {"shirt"}, "Hut": {"hat"}, "Auto": {"car"}, "Strand": {"beach"},
    "Gruppe": {"group"}, "Menschen": {"people"}, "Leute": {"people"},
    "Schnee": {"snow"}, "Gras": {"grass"}, "Baum": {"tree"}, "Bäume": {"trees"},
    "Buch": {"book"}, "Tisch": {"table"}, "Stadt": {"city", "town"},
    "Berg": {"mountain"}, "Pferd": {"horse"}, "Gitarre": {"guitar"}, "Bühne": {"stage"},
    "Wand": {"wall"}, "Gebäude": {"building"}, "Essen": {"food"}, "Mütze": {"hat", "cap"},
    "Jacke": {"jacket", "coat"}, "Sand": {"sand"}, "Park": {"park"}, "Feld": {"field"},
    "Boot": {"boat"}, "Fluss": {"river"}, "Meer": {"ocean", "sea"}, "Himmel": {"sky"},
    "Kamera": {"camera"}, "Arbeiter": {"worker", "workers"}, "Bank": {"bench", "bank"},
    "Tür": {"door"}, "Fenster": {"window"}, "Küche": {"kitchen"}, "Brücke": {"bridge"},
    "Zug": {"train"}, "Hose": {"pants", "jeans", "trousers"}, "Sonnenbrille": {"sunglasses"},
    "Spieler": {"player", "players"}, "Menge": {"crowd"}, "Mikrofon": {"microphone"},
    "Felsen": {"rock", "rocks", "cliff"}, "Rucksack": {"backpack"},
}
WORD = re.compile(r"\w+")


def tagged(sentence: str) -> tuple[str, str] | None:
    """(HTML paragraph with a <b> around the first listed noun, that noun), or None."""
    for m in WORD.finditer(sentence):
        if m.group() in NOUNS:
            a, b = m.span()
            return (f"<p>{html.escape(sentence[:a])}<b>{html.escape(m.group())}</b>"
                    f"{html.escape(sentence[b:])}</p>", m.group())
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--json")
    args = p.parse_args()
    translator = Translator.from_checkpoint(args.checkpoint, threads=2, int8=True)
    sentences = read_split(args.data, "test_2016_flickr", "de", "en").src
    items = [(s, *t) for s in sentences if (t := tagged(s))]
    page = "<html><body>" + "".join(h for _, h, _ in items) + "</body></html>"
    started = time.perf_counter()
    parsed = read_file(page.encode(), "html")
    out = parsed.write(translate_parsed(parsed, translator.translate_aligned, "de"), "en")
    seconds = time.perf_counter() - started
    plain = translator.translate([s for s, _, _ in items])
    paragraphs = lxml.html.fromstring(out).findall(".//p")
    right = empty = same = translated = right_translated = 0
    examples = []
    for (source, _, noun), paragraph, untagged in zip(items, paragraphs, plain):
        bold = paragraph.find(".//b")
        inside = WORD.findall(bold.text_content().lower()) if bold is not None else []
        ok = bool(set(inside) & NOUNS[noun]) and len(inside) <= 2
        right += ok
        empty += not inside
        has_noun = bool(set(WORD.findall(paragraph.text_content().lower())) & NOUNS[noun])
        translated += has_noun  # the model translated the noun as the list has it
        right_translated += ok and has_noun
        text = " ".join(paragraph.text_content().split())
        same += text == " ".join(untagged.split())
        if not ok and len(examples) < 8:
            examples.append({"source": source, "noun": noun,
                             "output": lxml.html.tostring(paragraph, encoding="unicode")})
    n = len(items)
    results = {"sentences": n, "of": len(sentences), "nouns_listed": len(NOUNS),
               "tag_on_the_noun": round(right / n, 4), "tag_empty": round(empty / n, 4),
               "noun_translated": translated,
               "tag_on_the_noun_where_translated": round(right_translated / max(translated, 1),
                                                          4),
               "stripped_equals_untagged": round(same / n, 4), "seconds": round(seconds, 1),
               "misses": examples}
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
