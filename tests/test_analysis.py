"""translator/evaluation/analysis.py on examples small enough to count by hand."""

from __future__ import annotations

from collections import Counter

import pytest
import sacrebleu

from translator.evaluation.analysis import (
    by_length_ratio,
    by_source_length,
    ngram_differences,
    right_ngrams,
    word_f_by_frequency,
    word_frequencies,
)

SRC = ["ein hund", "zwei kinder spielen im sand und lachen laut über den witz",
       "ein mann"]
REF = ["a dog", "two children play in the sand and laugh loudly at the joke", "a man"]
A = ["a dog", "two children play in sand and laugh at the joke", "the man"]
B = ["dog", "two kids are playing in the sand", "a man"]


def test_source_length_buckets_hold_the_same_segments_for_every_system():
    out = by_source_length(SRC, [REF], [A, B], edges=(3, 10))
    assert out["buckets"] == ["< 3 words", "3-9 words", ">= 10 words"]
    assert out["segments"] == [2, 0, 1]
    short = [0, 2]  # the two-word sources
    want = sacrebleu.corpus_bleu([A[i] for i in short], [[REF[i] for i in short]]).score
    assert out["bleu"][0][0] == pytest.approx(want)
    assert out["bleu"][0][1] is None and out["chrf"][1][1] is None  # an empty bucket
    assert out["chrf"][1][2] == pytest.approx(
        sacrebleu.corpus_chrf([B[1]], [[REF[1]]]).score)


def test_length_ratio_shares():
    out = by_length_ratio([REF], [A, B])
    assert out["buckets"] == ["< 0.9", "0.9-1.1", ">= 1.1"]
    # A: 2/2, 10/12 (short), 2/2 -> one short, two right; B: 1/2, 7/12 short, 2/2 right
    assert out["share"][0] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert out["share"][1] == pytest.approx([2 / 3, 1 / 3, 0.0])


def test_word_f_by_training_frequency():
    frequency = word_frequencies(["a dog and a man", "the sand"])  # a: 2, others 1, rest 0
    out = word_f_by_frequency([REF], [A], frequency, edges=(1, 2))
    assert out["buckets"] == ["0", "1", ">= 2"]
    # reference words by bucket: "a" twice (frequency 2); dog, man, the, the, sand, and
    # (frequency 1); the other eight never occur in the training lines (frequency 0)
    assert out["reference_words"] == [8, 6, 2]
    precision, recall = out["precision"][0], out["recall"][0]
    assert precision[2] == pytest.approx(1.0)  # A writes "a" once, rightly...
    assert recall[2] == pytest.approx(1 / 2)  # ...of the reference's two
    # frequency 1: A writes dog, the, sand, and, the, man; all right but the second "the"
    # ("the man" where the reference has "a man")
    assert precision[1] == pytest.approx(5 / 6) and recall[1] == pytest.approx(5 / 6)
    f = out["f"][0][1]
    assert f == pytest.approx(5 / 6)


def test_right_ngrams_are_clipped_to_the_reference():
    right = right_ngrams(["the the the cat"], ["the cat"], 1)
    assert right == Counter({("the",): 1, ("cat",): 1})
    assert right_ngrams(["a b c"], ["x a b y"], 2) == Counter({("a", "b"): 1})


def test_ngram_differences_name_what_each_system_gets_right():
    out = ngram_differences([REF], A, B, orders=(1, 2), top=100)
    a_side = {row["ngram"]: (row["a"], row["b"]) for row in out["a"]}
    b_side = {row["ngram"]: (row["a"], row["b"]) for row in out["b"]}
    assert a_side["children"] == (1, 0) and a_side["a dog"] == (1, 0)
    assert b_side["a man"] == (0, 1) and b_side["in the"] == (0, 1)
    assert "two children" not in b_side and "the" not in a_side  # both get those right
    margins = [r["a"] - r["b"] for r in out["a"]]
    assert margins == sorted(margins, reverse=True)
    top = ngram_differences([REF], A, B, orders=(1, 2), top=3)
    assert top["a"] == out["a"][:3] and len(top["b"]) == 3
