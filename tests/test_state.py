"""`baseline_first`: the sidebar offers checkpoints baseline first, so its default pick of two is (before, after)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from dashboard.state import baseline_first
from models.checkpoints import CheckpointRef


def ref(name: str) -> CheckpointRef:
    return CheckpointRef(
        path=Path("/checkpoints") / name,
        name=name,
        labels=("negative", "positive"),
        fingerprint=hashlib.sha256(name.encode()).hexdigest(),
        model_type="bert",
        max_length=128,
    )


def names(refs) -> list[str]:
    return [r.name for r in refs]


@pytest.mark.parametrize(
    "given,expected",
    [
        (["sentiment-after", "sentiment-before"], ["sentiment-before", "sentiment-after"]),  # the demo's pair
        (["model-finetuned", "model-pretrained"], ["model-pretrained", "model-finetuned"]),
        (["bert-fine-tuned", "bert-base"], ["bert-base", "bert-fine-tuned"]),
        (["tuned", "baseline"], ["baseline", "tuned"]),
    ],
)
def test_a_before_model_comes_first_and_an_after_model_last(given, expected):
    assert names(baseline_first([ref(n) for n in given])) == expected
    assert names(baseline_first([ref(n) for n in reversed(given)])) == expected  # whatever order discovery found


def test_unmarked_checkpoints_sit_between_before_and_after_models():
    order = names(baseline_first([ref(n) for n in ["zeta-after", "alpha", "omega-before", "mid"]]))
    assert order == ["omega-before", "alpha", "mid", "zeta-after"]


def test_the_words_match_anywhere_in_the_name_and_ignore_case():
    order = names(baseline_first([ref(n) for n in ["Run3-AFTER-lr2e-5", "plain", "Distil-BASE-uncased"]]))
    assert order == ["Distil-BASE-uncased", "plain", "Run3-AFTER-lr2e-5"]


def test_a_before_word_wins_over_an_after_word_in_the_same_name():
    # 'base' is checked first: a fine-tune of a base model named after both still counts as a baseline
    assert names(baseline_first([ref(n) for n in ["x-after", "base-finetuned"]])) == ["base-finetuned", "x-after"]


def test_within_a_group_the_order_is_alphabetical_case_insensitive():
    given = ["b-before", "A-before", "c", "B", "a", "z-after", "Y-after"]
    expected = ["A-before", "b-before", "a", "B", "c", "Y-after", "z-after"]
    for seed in range(5):
        shuffled = given[:]
        random.Random(seed).shuffle(shuffled)
        assert names(baseline_first([ref(n) for n in shuffled])) == expected


def test_the_refs_are_kept_whole_and_the_input_is_not_modified():
    refs = [ref("after"), ref("before")]
    ordered = baseline_first(refs)
    assert ordered == [refs[1], refs[0]] and ordered[0] is refs[1]
    assert names(refs) == ["after", "before"]
    assert baseline_first([]) == []
