"""What users type: ALL-CAPS and lower-case input (translator/data/casing.py), numbers, links, emoji
and names carried through (translator/inference/protect.py), and the per-sentence confidence
(translator/inference/confidence.py, translator/training/calibrate.py); units first, then the tiny
model trained on the reverse task, then the `calibrate` command."""

from __future__ import annotations

import json
import math

import pytest
from helpers import SRC, TGT

from translator import Translator
from translator.checkpoint import load_checkpoint
from translator.cli.main import main
from translator.data.casing import Casing, CasingTable, casing_of, truecase, truecase_runs
from translator.data.corpus import read_split
from translator.data.vocab import encode_parts
from translator.evaluation.sentences import correlations
from translator.inference.confidence import (
    Calibration,
    fit,
    mean_log_prob,
    uncalibrated,
)
from translator.inference.protect import (
    MASK,
    MASKED,
    Span,
    Word,
    find_spans,
    model_parts,
    restore,
    target_words,
)

GERMAN = ["Ein Mann fährt auf der Straße.", "Eine Frau liest ein Buch im Park.",
          "Der Mann und die Frau essen auf der Straße.", "Zwei Hunde spielen im Schnee.",
          "Ein Kind spielt Fußball auf der Straße."]


# --------------------------------------------------------------------------- casing
@pytest.mark.parametrize("text, expected", [
    ("EIN MANN FÄHRT FAHRRAD.", Casing.UPPER), ("ein mann fährt fahrrad", Casing.LOWER),
    ("Ein Mann fährt Fahrrad.", Casing.NORMAL), ("NASA 2024", Casing.NORMAL),
    ("„NASA“ UND ESA", Casing.UPPER), ("„NASA“ und ESA", Casing.NORMAL), ("ok", Casing.NORMAL),
    ("42 17", Casing.NORMAL), ("שלום עולם", Casing.NORMAL), ("你好 世界", Casing.NORMAL),
])
def test_casing_of_needs_two_words_of_one_case(text, expected):
    assert casing_of(text) == expected


def test_truecase_restores_the_training_forms_and_finds_sharp_s_through_ss():
    table = CasingTable.learn(GERMAN)
    assert truecase("EIN MANN FÄHRT AUF DER STRASSE.", table) == \
        "Ein Mann fährt auf der Straße."
    assert truecase("ein kind spielt fussball im park.", table) == \
        "Ein Kind spielt Fußball im Park."
    assert truecase("DER HUND BELLO SPIELT.", table) == "Der Hund Bello spielt."  # unknown: Bello
    assert table.knows("STRASSE") and not table.knows("Bello")


def test_runs_of_capitals_inside_a_sentence_take_their_usual_forms():
    table = CasingTable.learn(GERMAN)
    assert truecase_runs("ZWEI HUNDE SPIELEN FUSSBALL auf der Straße.", table) == \
        "Zwei Hunde spielen Fußball auf der Straße."
    assert truecase_runs("Ein Mann FÄHRT AUF DER STRASSE.", table) == \
        "Ein Mann fährt auf der Straße."
    assert truecase_runs("ein KIND SPIELT", table, first=False) == "ein Kind spielt"
    # unknown words in a run stay as written (acronyms, names); so does a capital word alone
    assert truecase_runs("Ein Foto der NASA ESA im PARK", table) == \
        "Ein Foto der NASA ESA im PARK"
    assert truecase_runs("Der MANN und die FRAU", table) == "Der MANN und die FRAU"
    assert truecase_runs("Der MANN, 2 HUNDE und die Frau", table) == \
        "Der Mann, 2 Hunde und die Frau"


def test_truecase_follows_a_corpus_that_is_all_lower_case():
    table = CasingTable.learn(["red blue cat", "dog sun moon"])
    assert not table.capitalize_first
    assert truecase("RED BLUE CAT", table) == "red blue cat"
    assert truecase("RED BLUE CAT", None) == "Red blue cat"  # no table: a capital first letter


def test_casing_table_round_trips_and_reads_a_plain_mapping():
    table = CasingTable.learn(GERMAN)
    again = CasingTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert again.forms == table.forms and again.capitalize_first
    assert CasingTable.from_dict({"mann": "Mann"}).form("MANN") == "Mann"


def test_familiar_words_are_not_names():
    table = CasingTable.learn(GERMAN + ["Ein Mann trägt eine Jacke aus Leder und ein Shirt."])
    for word in ("Lederjacke", "Buches", "T-Shirt", "Straße"):
        assert table.familiar(word), word
    for word in ("Bello", "Mehmet", "Xylophon"):
        assert not table.familiar(word), word


# --------------------------------------------------------------------------- spans
def spans_of(text, table=None):
    return [(s.kind, s.text) for s in find_spans(text, lambda c: c.isascii() or c in "äöüß",
                                                 table)]


def test_find_spans_marks_numbers_links_symbols_and_names():
    table = CasingTable.learn(GERMAN)
    text = ("Ein Mann namens Mehmet zahlt 12,99 € am 12.03.2024 um 10:30 auf "
            "www.example.com/a?b=1, schreibt an info@example.com 🐕‍🦺!")
    assert spans_of(text, table) == [
        ("name", "Mehmet"), ("number", "12,99 €"), ("number", "12.03.2024"),
        ("number", "10:30"), ("url", "www.example.com/a?b=1"), ("email", "info@example.com"),
        ("symbol", "🐕‍🦺")]
    assert spans_of("Sieh https://bahn.de/tickets.") == [("url", "https://bahn.de/tickets")]
    assert spans_of("Ein Mann fährt Fahrrad.") == []  # no table: no names
    assert spans_of("3D-Drucker, 50% und $20 unter 030 1234567") == [
        ("number", "50%"), ("number", "$20"), ("number", "030 1234567")]


def test_software_placeholders_are_masked_spans():
    """PO and XLIFF strings carry placeholders the translation must keep exactly."""
    assert spans_of("Lösche %d Dateien aus %(folder)s? Fehler %1$s bei %.2f MB") == [
        ("placeholder", "%d"), ("placeholder", "%(folder)s"), ("placeholder", "%1$s"),
        ("placeholder", "%.2f")]
    assert spans_of("Hallo {name}, {0} neue in {{ inbox }} und ${HOME}") == [
        ("placeholder", "{name}"), ("placeholder", "{0}"), ("placeholder", "{{ inbox }}"),
        ("placeholder", "${HOME}")]
    assert spans_of("Das kostet 5 % und 50%ige Rabatte.") == [("number", "5 %"),
                                                             ("number", "50")]
    assert "placeholder" in MASKED


def test_placeholders_come_out_of_a_real_translation(trained_translator):
    """Whatever the model makes of the words, every placeholder appears once, verbatim."""
    for text in ("%d red cats", "{name} blue %(n)s dog", "red {{ x }} sun %1$s"):
        out = trained_translator.translate([text])[0]
        for token in ("%d", "{name}", "%(n)s", "{{ x }}", "%1$s"):
            assert out.count(token) == text.count(token), (text, out)


def test_links_inside_links_and_numbers_after_links():
    assert spans_of("Schreib an max@example.com oder https://user@example.com/pfad heute.") == [
        ("email", "max@example.com"), ("url", "https://user@example.com/pfad")]
    assert spans_of("Unter https://shop.de/item/7 5 Stück") == [
        ("url", "https://shop.de/item/7"), ("number", "5")]
    assert spans_of("Siehe http://de.wikipedia.org/wiki/Berlin_(Stadt) heute.") == [
        ("url", "http://de.wikipedia.org/wiki/Berlin_(Stadt)")]
    assert spans_of("(siehe www.example.com).") == [("url", "www.example.com")]
    assert spans_of("mailto:anna@example.com") == [("url", "mailto:anna@example.com")]


def test_two_unknown_characters_in_one_word_are_one_span():
    def ascii_only(c):
        return c.isascii()

    assert [(s.kind, s.text) for s in find_spans("Er sagt »Hallo«.", ascii_only)] == [
        ("symbol", "»Hallo«")]
    assert [s.text for s in find_spans("Hut 😀-😀 und \ue000", ascii_only)] == ["😀-😀",
                                                                              "\ue000"]


def test_truecasing_keeps_links_in_place():
    from translator.inference.pipeline import _outside_links

    table = CasingTable.learn(GERMAN)
    assert _outside_links("DER MANN AN MAX@EXAMPLE.COM ODER HTTPS://WWW.EXAMPLE.COM/AB",
                          lambda part, first: truecase(part, table, first)) == \
        "Der Mann An MAX@EXAMPLE.COM Oder HTTPS://WWW.EXAMPLE.COM/AB"
    assert _outside_links("Siehe HTTPS://WWW.EXAMPLE.COM/AB DER MANN",
                          lambda part, first: truecase_runs(part, table, first)) == \
        "Siehe HTTPS://WWW.EXAMPLE.COM/AB der Mann"


def test_a_number_inside_a_longer_span_does_not_count_as_present():
    out = words("He", "buys", "1,5", "kilo", "and", "bread", sources=[0, 1, 2, 3, 4, 5])
    out[2].protected = "number"
    spans = [Span(0, 3, "number", "1,5"), Span(0, 1, "number", "1")]
    restored = restore(out, spans, [frozenset({2}), frozenset({5})])
    assert " ".join(w.text for w in restored) == "He buys 1,5 kilo and 1"
    out = words("at", "10:30", "come", "people", sources=[0, 1, 2, 3])
    restored = restore(out, [Span(0, 2, "number", "30")], [frozenset({3})])
    assert " ".join(w.text for w in restored) == "at 10:30 come 30"


def test_model_parts_mask_links_and_keep_the_rest():
    text = "Mail an info@example.com mit 3 Fotos"
    spans = find_spans(text, str.isascii)
    parts = model_parts(text, spans)
    assert parts == [("Mail an ", None), (MASK, 0), (" mit ", None), ("3", 1), (" Fotos", None)]


def test_encode_parts_gives_each_span_its_subwords(trained_translator):
    tok = trained_translator.src_tok
    ids, positions = encode_parts(tok, [("red blue ", None), ("42", 0), (" cat", None)])
    assert positions[0] and max(positions[0]) < len(ids)
    plain = tok.encode(["red blue"])[0]
    assert ids[: len(plain)] == plain
    assert ids[max(positions[0]) + 1:] == tok.encode(["cat"])[0]


def words(*texts, sources=None):
    return [Word("", t, "", (sources or [None] * len(texts))[i]) for i, t in enumerate(texts)]


def test_restore_replaces_the_aligned_word_keeping_its_punctuation():
    out = words("A", "dog", "costs", "fifty", "euros", sources=[0, 1, 2, 3, 4])
    out[-1].trail = "."
    span = Span(0, 2, "number", "50")
    restored = restore(out, [span], [frozenset({3})])
    assert " ".join(w.text for w in restored) == "A dog costs 50 euros."
    assert [w.protected for w in restored] == ["", "", "", "number", ""]


def test_restore_inserts_an_unaligned_span_after_its_left_neighbour():
    out = words("A", "man", "waves.", sources=[0, 1, 2])
    out[-1].core, out[-1].trail = "waves", "."
    emoji = Span(0, 1, "symbol", "🐕")
    assert " ".join(w.text for w in restore(out, [emoji], [frozenset({5})])) == "A man waves 🐕."
    out = words("A", "man", sources=[3, 4])
    first = Span(0, 1, "name", "Klaus")
    assert " ".join(w.text for w in restore(out, [first], [frozenset({0})])) == "Klaus A man"


def test_restore_leaves_a_span_the_model_copied_and_counts_repeats():
    out = words("2", "dogs", "and", "two", "cats", sources=[0, 1, 2, 3, 4])
    spans = [Span(0, 1, "number", "2"), Span(8, 9, "number", "2")]
    restored = restore(out, spans, [frozenset({0}), frozenset({3})])
    assert " ".join(w.text for w in restored) == "2 dogs and 2 cats"


def test_target_words_groups_subwords_and_aligns_by_summed_attention():
    pieces = ["▁A", "▁do", "g", ".", "▁x"]
    attention = [[1, 0, 0], [0, 0.6, 0.4], [0, 0.1, 0.9], [0, 0, 1], [0, 1, 0]]
    out = target_words(pieces, [False, False, False, False, True], attention)
    assert [(w.lead, w.core, w.trail, w.source) for w in out] == [
        ("", "A", "", 0), ("", "dog", ".", 2), ("", "", "", 1)]  # the <unk> word is empty


# --------------------------------------------------------------------------- confidence
def test_fit_recovers_a_logistic_curve_and_maps_into_zero_one():
    xs = [-3 + 0.05 * i for i in range(120)]
    ys = [1 / (1 + math.exp(-(2 * x + 1))) for x in xs]
    cal = fit(xs, ys)
    assert cal.a == pytest.approx(2, rel=0.05) and cal.b == pytest.approx(1, rel=0.1)
    assert 0 <= cal(-1e6) <= cal(-1) < cal(0) <= cal(1e6) <= 1
    assert Calibration.from_dict(cal.to_dict()) == cal
    assert uncalibrated(-math.log(2)) == pytest.approx(0.5) and uncalibrated(3.0) == 1.0


def test_correlations_are_pearson_and_spearman():
    pearson, spearman = correlations([1, 2, 3, 4], [1, 4, 9, 100])
    assert spearman == pytest.approx(1.0) and 0.7 < pearson < 0.9
    assert correlations([1, 2, 3], [3, 2, 1]) == (pytest.approx(-1.0), pytest.approx(-1.0))


# --------------------------------------------------------------------------- the model
def test_the_trained_checkpoint_has_a_casing_table_and_a_calibration(trained_run):
    data = load_checkpoint(trained_run["dir"] / "best.pt")
    assert data["casing"]["src"]["forms"]["red"] == "red"
    assert {"a", "b", "pearson", "spearman"} <= set(data["confidence"])
    assert "confidence" in trained_run["summary"]


def test_all_caps_input_gives_the_all_caps_translation(trained_translator):
    lower = ["red blue cat dog", "fish bird star rock leaf"]
    normal = trained_translator.translate(lower, beam_size=2)
    upper = trained_translator.translate([s.upper() for s in lower], beam_size=2)
    assert upper == [t.upper() for t in normal]
    trained_translator.recase = False
    try:
        assert trained_translator.translate([lower[0].upper()], beam_size=2) != [normal[0].upper()]
    finally:
        trained_translator.recase = True


def test_words_in_capitals_inside_a_sentence_are_translated_as_usual(trained_translator):
    normal = ["red blue cat dog", "fish bird star rock leaf"]
    mixed = ["red BLUE CAT dog", "FISH BIRD STAR rock leaf"]
    expected = trained_translator.translate(normal, beam_size=2)
    assert trained_translator.translate(mixed, beam_size=2) == expected
    trained_translator.recase = False
    try:
        assert trained_translator.translate(mixed, beam_size=2) != expected
    finally:
        trained_translator.recase = True


def test_numbers_links_and_emoji_come_through(trained_translator):
    items = ["42", "3,50", "www.example.com/x", "info@example.com", "🐕", "€", "1,5", "7"]
    src = ["red 42 blue cat", "dog 3,50 € sun", "moon www.example.com/x tree",
           "fish bird info@example.com star", "rock 🐕 leaf red", "red 1,5 blue 1 cat 7",
           "sun www.example.com/7 7 moon"]
    out = trained_translator.translate(src, beam_size=3)
    for item in items:
        assert sum(item in o for o in out) == sum(item in s for s in src), (item, out)
    assert " 1 " in f" {out[5]} " and out[6].count("7") == 2, out
    assert "dog" in out[1] and "sun" in out[1]  # the rest is still translated
    trained_translator.protect = False
    try:
        assert not any("🐕" in o or "@" in o for o in trained_translator.translate(src))
    finally:
        trained_translator.protect = True


def test_plain_input_is_translated_as_before(trained_translator, reverse_corpus):
    test = read_split(reverse_corpus, "test_2016_flickr", SRC, TGT)
    with_pipeline = trained_translator.translate(test.src[:30], beam_size=2)
    trained_translator.protect, trained_translator.recase = False, False
    try:
        assert trained_translator.translate(test.src[:30], beam_size=2) == with_pipeline
    finally:
        trained_translator.protect, trained_translator.recase = True, True


def test_confidence_is_lower_on_nonsense_than_in_domain(trained_translator, reverse_corpus):
    test = read_split(reverse_corpus, "test_2016_flickr", SRC, TGT)
    nonsense = ["qzx vwk jjj", "plm plm plm plm", "Hallo, wie geht es?"]

    def features(texts):
        return [mean_log_prob(h[0][1].log_prob, len(h[0][1].tokens))
                for h in trained_translator.translate_hypotheses(texts, beam_size=2)]

    assert max(features(nonsense)) < min(features(test.src[:20]))
    good = trained_translator.translate_scored(test.src[:20], beam_size=2)
    bad = trained_translator.translate_scored(nonsense, beam_size=2)
    assert all(0 <= s.confidence <= 1 for s in good + bad)
    assert max(s.confidence for s in bad) <= min(s.confidence for s in good)
    assert trained_translator.translate_scored([""]) == [("", 1.0)]


def test_calibrate_command_adds_casing_and_confidence(trained_run, reverse_corpus, tmp_path,
                                                      capsys):
    out = tmp_path / "calibrated.pt"
    assert main(["calibrate", "--checkpoint", str(trained_run["dir"] / "best.pt"),
                 "--data", str(reverse_corpus), "--beam", "2", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["casing_words"] == 12 and summary["confidence"]["sentences"] == 100
    t = Translator.from_checkpoint(out)
    assert t.calibration is not None and t.casing is not None
    assert t.calibration.a > 0  # more probable translations get more confidence


def test_translate_command_prints_the_confidence_per_line(trained_run, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("red blue cat\nqzx vwk jjj\n")
    out = tmp_path / "out.txt"
    assert main(["translate", "--checkpoint", str(trained_run["dir"] / "best.pt"), "-q",
                 "--beam", "2", "--confidence", "-i", str(src), "-o", str(out)]) == 0
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert lines[0][0] == "cat blue red" and len(lines) == 2
    assert float(lines[1][1]) < float(lines[0][1]) <= 1


def test_calibrate_if_missing_leaves_a_calibrated_checkpoint_alone(trained_run, reverse_corpus,
                                                                    tmp_path):
    best = trained_run["dir"] / "best.pt"
    before = best.stat().st_mtime_ns
    assert main(["calibrate", "--checkpoint", str(best), "--data", str(reverse_corpus),
                 "--if-missing"]) == 0
    assert best.stat().st_mtime_ns == before
