"""Inline formatting placed by alignment (translator/formats/inline.py's `place_aligned`,
translator/inference/align.py): on the reverse-the-words task a tag around the k-th source word must
land around the word it becomes, for single words, spans of words and nested tags, in many
random sentences; the output stays well-formed with every tag exactly once."""

from __future__ import annotations

import random
from collections import namedtuple

import lxml.html
import pytest

from translator.formats import read_file, translate_parsed
from translator.formats.inline import distribute, place_aligned
from translator.inference.align import even_alignment, word_alignment, word_starts

WORDS = ["red", "blue", "cat", "dog", "sun", "moon", "tree", "fish", "bird", "star"]
Aligned = namedtuple("Aligned", "text alignment")


def reverse_with_alignment(sentences):
    """The reverse task's perfect translator: words reversed, each aligned to its source."""
    out = []
    for sentence in sentences:
        words = sentence.split()
        out.append(Aligned(" ".join(reversed(words)),
                           [len(words) - 1 - i for i in range(len(words))]))
    return out


def reverse_keeping_final_stop(sentences):
    """A model that reverses word order as a translation sets it: the words reversed, the
    sentence's final punctuation still at its end, each word aligned to its source word."""
    out = []
    for sentence in sentences:
        words = sentence.split()
        stop = words[-1][len(words[-1].rstrip(".!?")):] if words else ""
        if stop:
            words[-1] = words[-1][: -len(stop)]
        out.append(Aligned(" ".join(reversed(words)) + stop,
                           [len(words) - 1 - i for i in range(len(words))]))
    return out


def tagged_page(rng: random.Random) -> tuple[bytes, list[str], dict]:
    """A paragraph of 4-9 distinct words with a <b> around one word or a run of them, and
    sometimes an <i> nested inside it or elsewhere."""
    words = rng.sample(WORDS, rng.randint(4, 9))
    start = rng.randrange(len(words))
    end = min(len(words), start + rng.choice([1, 1, 2, 3]))
    parts, tags = [], {"b": words[start:end]}
    nested = rng.random() < 0.4 and end - start >= 1
    for i, word in enumerate(words):
        piece = word
        if i == start:
            piece = "<b>" + ("<i>" if nested else "") + piece
            if nested:
                tags["i"] = [word]
        if nested and i == start:
            piece += "</i>"
        if i == end - 1:
            piece += "</b>"
        parts.append(piece)
    html = f"<html><body><p>{' '.join(parts)}</p></body></html>".encode()
    return html, words, tags


@pytest.mark.parametrize("seed", range(60))
def test_a_tag_lands_around_the_words_its_source_words_become(seed):
    rng = random.Random(seed)
    page, words, tags = tagged_page(rng)
    parsed = read_file(page, "html")
    out = parsed.write(translate_parsed(parsed, reverse_with_alignment, "en"), "yy")
    root = lxml.html.fromstring(out)
    paragraph = root.find(".//p")
    assert " ".join(paragraph.text_content().split()) == " ".join(reversed(words))
    for tag, inside in tags.items():
        found = paragraph.findall(f".//{tag}")
        assert len(found) == 1, (page, out)  # every tag exactly once
        assert sorted(found[0].text_content().split()) == sorted(inside), (page, out)
    if "i" in tags:
        assert paragraph.find(".//b/i") is not None  # nesting kept


def test_tags_keep_their_order_when_the_words_they_hold_swap():
    """Two tags whose words trade places: markup never moves, so each keeps its position and
    takes the words aligned to the other's formatting only if the formatting is alike."""
    spans, marks = ["red ", "blue", " cat ", "dog"], ["", "b", "", "i"]
    out = place_aligned(spans, ["red blue cat dog"], ["dog cat blue red"], [[3, 2, 1, 0]],
                        marks)
    assert "".join(out).split() == ["dog", "cat", "blue", "red"]
    assert len(out) == 4  # no span added or lost


def test_a_tag_whose_words_the_model_dropped_takes_the_word_at_its_place():
    """The fallback where the alignment gives a tag nothing: a link must not vanish."""
    spans, marks = ["Ein ", "großer", " Hund rennt."], ["", "a[href=x]", ""]
    out = place_aligned(spans, ["Ein großer Hund rennt."], ["A dog runs."], [[0, 2, 3]],
                        marks)
    assert out == ["A ", "dog", " runs."]
    # Plain text gives up its word first; the last word of a formatted span is never taken.
    out = place_aligned(["Ein ", "großer", " ", "Hund"], ["Ein großer Hund"], ["A dog"],
                        [[0, 2]], ["", "b", "", "i"])
    assert out == ["", "A", " ", "dog"]
    # Formatting that kept its words elsewhere (here inside a nested tag) takes nothing.
    out = place_aligned(["a ", "", "b", " c", " d"], ["a b c d"], ["d c b a"],
                        [[3, 2, 1, 0]], ["", "b", "b/i", "b", ""])
    assert "".join(out).split() == ["d", "c", "b", "a"]


def test_without_alignment_the_even_spread_keeps_order():
    assert even_alignment(4, 2) == [0, 0, 1, 1]
    assert even_alignment(0, 3) == [] and even_alignment(2, 0) == [0, 0]
    out = place_aligned(["Ein ", "großer", " Hund."], ["Ein großer Hund."],
                        ["A big dog."], [None], ["", "b", ""])
    assert "".join(out) == "A big dog."


def test_soft_attention_becomes_word_alignment():
    src, tgt = ["▁ein", "▁gro", "ßer", "▁Hund"], ["▁a", "▁big", "▁do", "g"]
    attention = [[0.9, 0.05, 0.05, 0.0, 0.0],   # a -> ein
                 [0.1, 0.5, 0.4, 0.0, 0.0],     # big -> großer (two subwords summed)
                 [0.0, 0.1, 0.0, 0.8, 0.1],     # do -> Hund
                 [0.0, 0.3, 0.3, 0.3, 0.1]]     # g: its word's rows are summed with "do"
    assert word_starts(tgt) == [0, 1, 2, 2]
    assert word_alignment(src, tgt, attention) == [0, 1, 2]


def test_the_real_model_returns_one_alignment_per_output_word(trained_translator):
    for out in trained_translator.translate_aligned(["red blue cat dog", "sun moon", ""]):
        assert len(out.alignment) == len(out.text.split())
        assert all(0 <= a < 4 for a in out.alignment)
    first = trained_translator.translate_aligned(["red blue cat dog"])[0]
    assert first.text == "dog cat blue red" and first.alignment == [3, 2, 1, 0]


def test_a_bold_run_follows_its_word_in_a_presentation():
    """Run-based formats carry their runs' formatting as marks: in a slide's paragraph
    "red *blue* cat dog" reversed, the bold run holds "blue" again."""
    import io

    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    paragraph = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1)) \
        .text_frame.paragraphs[0]
    for text, bold in (("red ", False), ("blue", True), (" cat dog", False)):
        run = paragraph.add_run()
        run.text, run.font.bold = text, bold
    data = io.BytesIO()
    deck.save(data)
    parsed = read_file(data.getvalue(), "pptx")
    out = pptx.Presentation(io.BytesIO(parsed.write(
        translate_parsed(parsed, reverse_with_alignment, "en"), "yy")))
    runs = out.slides[0].shapes[0].text_frame.paragraphs[0].runs
    assert "".join(r.text for r in runs) == "dog cat blue red"
    assert [r.text for r in runs if r.font.bold] == ["blue"]


# ------------------------------------------- issue 27.6: space and stop outside a moved tag
def translated_paragraph(html: bytes, translate) -> str:
    """The first paragraph of an HTML page translated by `translate`, as markup."""
    parsed = read_file(b"<html><body>" + html + b"</body></html>", "html")
    out = parsed.write(translate_parsed(parsed, translate, "en"), "yy")
    paragraph = lxml.html.fromstring(out).find(".//p")
    return lxml.html.tostring(paragraph, encoding="unicode", with_tail=False)


def test_a_tag_moved_to_the_sentence_end_leaves_the_space_and_the_stop_outside():
    """The issue's case: the italic word moves from the start to the end; the space before it
    and the full stop after it are the sentence's (it came back as `three two<i> One.</i>`)."""
    page = b"<p><i>One</i> two three.</p>"
    assert translated_paragraph(page, reverse_keeping_final_stop) == \
        "<p>three two <i>One</i>.</p>"
    # Where the stop travels with its word (as the tiny model does), the space still stays out.
    assert translated_paragraph(page, reverse_with_alignment) == "<p>three. two <i>One</i></p>"
    # Nested tags around the word: both stay tight around it.
    assert translated_paragraph(b"<p><b><i>One</i></b> two three.</p>",
                                reverse_keeping_final_stop) == \
        "<p>three two <b><i>One</i></b>.</p>"
    # A comma inside the sentence stays where the model put it, outside the link.
    assert translated_paragraph(b'<p><a href="x">One</a> two, three.</p>',
                                reverse_keeping_final_stop) == \
        '<p>three two, <a href="x">One</a>.</p>'


def test_a_tag_in_the_middle_of_the_sentence_is_unchanged():
    page = b"<p>One <i>two</i> three.</p>"
    assert translated_paragraph(page, reverse_keeping_final_stop) == \
        "<p>three <i>two</i> One.</p>"
    assert translated_paragraph(page, reverse_with_alignment) == "<p>three. <i>two</i> One</p>"


def test_punctuation_the_source_had_inside_a_tag_stays_inside():
    page = b"<p>One two <i>three.</i></p>"
    assert translated_paragraph(page, reverse_with_alignment) == "<p><i>three.</i> two One</p>"
    def copy(sentences):
        return [Aligned(s, list(range(len(s.split())))) for s in sentences]

    assert translated_paragraph(page, copy) == "<p>One two <i>three.</i></p>"
    # The stop the model left at the sentence end is not the moved word's.
    assert translated_paragraph(page, reverse_keeping_final_stop) == \
        "<p><i>three</i> two One.</p>"
    # A span keeps a sentence's stop it held even when more text followed it in the span.
    spans, marks = ["Bold sentence. More", " plain words follow here."], ["b", ""]
    assert distribute(spans, ["Bold sentence.", "More plain words follow here."],
                      ["Fett.", "Mehr."], marks) == ["Fett.", " Mehr."]


def test_a_whole_formatted_sentence_leaves_out_the_stop_its_source_left_out():
    """Without alignment (whole sentences to spans), the same rule: a run formatted to the
    last word, the stop in a plain run after it (Word documents often look like this)."""
    out = distribute(["One two three", "."], ["One two three."], ["Drei zwei eins."],
                     ["i", ""])
    assert out == ["Drei zwei eins", "."]


def test_the_real_model_leaves_the_space_outside_a_moved_tag(trained_translator):
    assert translated_paragraph(b"<p><i>red</i> blue cat.</p>",
                                trained_translator.translate_aligned) == \
        "<p>cat. blue <i>red</i></p>"
