"""Perturbations: exactly what each probe does to a text, in English and Spanish, deterministically."""

from __future__ import annotations

import re

import pytest
import yaml

from probes.perturb import (
    TESTS,
    DirectionConfig,
    Expectation,
    ProbeError,
    detect_language,
    guess_directions,
    load_wordlist,
    match_case,
    perturb,
    resolve_tests,
    strip_punctuation,
)

EN = "John said the film was good, and he loved Mexico. Mary's mother is French!"
ES = "María dijo que la película fue buena y que él es mexicano. Me gustó mucho España."


def test_word_lists_load_for_both_languages():
    for language in ("en", "es"):
        wl = load_wordlist(language)
        assert wl.language == language
        assert len(wl.names["female"]) >= 10 and len(wl.names["male"]) >= 10
        assert wl.gendered_pairs and wl.nationalities and wl.neutral_clauses and wl.intensifiers and wl.adjectives
    # YAML 1.1 would read bare no/on/off as booleans; the files quote them
    assert "no" in load_wordlist("en").already_negated and "no" in load_wordlist("es").already_negated
    assert "on" in load_wordlist("en").her_object_followers


def test_a_word_in_two_groups_is_refused_with_its_name(tmp_path):
    data = yaml.safe_load(load_wordlist("en").path.read_text(encoding="utf-8"))
    data["nationalities"]["demonyms"].append("Mexico")
    (tmp_path / "en.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProbeError, match="'Mexico' is in both nationalities.countries and nationalities.demonyms"):
        load_wordlist("en", tmp_path)
    with pytest.raises(ProbeError, match="No word list for language 'fr'"):
        load_wordlist("fr")


def test_language_detection():
    assert detect_language(EN) == "en"
    assert detect_language(ES) == "es"
    assert detect_language("12345") == "en"  # no evidence: the first language


@pytest.mark.parametrize("test", list(TESTS))
def test_every_perturbation_is_deterministic_and_changes_the_text(test):
    for text in (EN, ES):
        first = perturb(test, text, seed=7)
        assert first, f"{test} made no variant of {text!r}"  # the checks below hold vacuously for an empty list
        assert first == perturb(test, text, seed=7)
        assert all(v != text and v.strip() for v in first)
        assert len(first) == len(set(first))


def test_seed_changes_random_choices_but_not_rule_based_ones():
    assert perturb("typos", EN, seed=0) != perturb("typos", EN, seed=1)
    assert perturb("names", EN, seed=0) != perturb("names", EN, seed=1)
    assert perturb("gender", EN, seed=0) == perturb("gender", EN, seed=1)
    assert perturb("casing", EN, seed=0) == perturb("casing", EN, seed=1)


def test_typos_change_exactly_one_word_by_one_edit():
    text = "the wonderful acting made this story memorable"
    words = text.split()
    for variant in perturb("typos", text, n_variants=5, seed=3):
        changed = [(a, b) for a, b in zip(words, variant.split()) if a != b]
        assert len(variant.split()) == len(words) and len(changed) == 1
        a, b = changed[0]
        assert abs(len(a) - len(b)) <= 1 and len(a) >= 3


def test_casing_punctuation_whitespace():
    assert perturb("casing", "Great Film") == ["great film", "GREAT FILM"]
    assert perturb("punctuation", "Great film!") == ["Great film"]  # both variants give the same text: kept once
    variants = perturb("punctuation", "It's great, really great!")
    assert variants == ["It's great, really great", "It's great really great"]
    assert perturb("punctuation", "no full stop here") == ["no full stop here."]
    assert strip_punctuation("«Hola», dijo—¿qué tal? well-made, don't") == "Hola dijo qué tal well-made don't"
    assert perturb("whitespace", "a good film") == ["a  good  film", "  a good film \n"]


def test_neutral_clause_is_appended_from_the_list():
    clauses = load_wordlist("en").neutral_clauses
    for variant in perturb("neutral_clause", "the film was good", n_variants=3):
        assert variant.startswith("the film was good. ") and variant[len("the film was good. ") :] in clauses
    for variant in perturb("neutral_clause", "¡Qué película tan buena!"):
        assert variant[len("¡Qué película tan buena! ") :] in load_wordlist("es").neutral_clauses


def test_names_are_swapped_everywhere_with_case_and_possessive_kept():
    variants = perturb("names", EN, n_variants=3)
    assert len(variants) == 3
    all_names = {n for lang in ("en", "es") for group in load_wordlist(lang).names.values() for n in group}
    for v in variants:
        assert not re.search(r"\bJohn\b", v) and not re.search(r"\bMary\b", v)
        first = v.split()[0]
        assert first in all_names and first[0].isupper()
        assert re.search(r"\b\w+'s mother\b", v)
    assert perturb("names", "JOHN was here")[0].split()[0].isupper()
    assert perturb("names", "the film was good") == []  # no name: the test does not apply
    # a name inside another word is not a name
    assert perturb("names", "Johnson and O'Mary were there") == []


def test_spanish_names_come_from_the_spanish_list():
    spanish = {n for g in load_wordlist("es").names.values() for n in g}
    for v in perturb("names", ES, n_variants=3):
        assert v.split()[0] in spanish and v.split()[0] != "María"


def test_gender_swaps_every_gendered_word_and_her_by_context():
    assert perturb("gender", "He said his mother was a great actress") == ["She said her father was a great actor"]
    assert perturb("gender", "I told her that her acting was great. She agreed.") == ["I told him that his acting was great. He agreed."]
    assert perturb("gender", "he'll love it") == ["she'll love it"]
    assert perturb("gender", "Mi hermano y su novio lloraron") == ["Mi hermana y su novia lloraron"]
    assert perturb("gender", "the film was good") == []


def test_nationalities_stay_in_their_group():
    wl = load_wordlist("en")
    for v in perturb("nationality", "A Mexican film shot in Spain", n_variants=3):
        demonym, country = v.split()[1], v.split()[-1]
        assert demonym in wl.nationalities["demonyms"] and demonym != "Mexican"
        assert country in wl.nationalities["countries"] and country != "Spain"
    es = load_wordlist("es")
    for v in perturb("nationality", "una película mexicana", n_variants=3):
        assert v.split()[-1] in es.nationalities["demonyms_feminine"]


def test_negation_and_intensifier():
    assert perturb("negation", "the movie is great") == ["the movie is not great"]
    assert perturb("negation", "Titanic tells a story") == ["It is not true that titanic tells a story"]
    assert perturb("negation", "it isn't good") == []  # already negated: ambiguous, skipped
    assert perturb("negation", "la película fue buena") == ["la película no fue buena"]
    assert perturb("negation", "una película sin alma") == []
    assert sorted(perturb("intensifier", "a good film", n_variants=3)) == ["a extremely good film", "a really good film", "a very good film"]
    capitalised = perturb("intensifier", "Great film", n_variants=2)
    assert len(capitalised) == 2 and all(re.fullmatch(r"(Very|Really|Extremely) great film", v) for v in capitalised)
    assert perturb("intensifier", "not good at all") == []
    assert perturb("intensifier", "a very good film") == []  # already intensified
    assert "una película muy buena" in perturb("intensifier", "una película buena", n_variants=3)


def test_match_case():
    assert match_case("JOHN", "maria") == "MARIA"
    assert match_case("John", "maria") == "Maria"
    assert match_case("john", "Maria") == "maria"
    assert match_case("I", "he") == "He"


def test_resolve_tests():
    names = lambda tests: [t.name for t in tests]  # noqa: E731
    assert names(resolve_tests(None, directional=False)) == [t for t in TESTS if TESTS[t].kind != "directional"]
    assert names(resolve_tests("all", directional=True)) == list(TESTS)
    assert names(resolve_tests(["fairness", "typos"], directional=False)) == ["names", "gender", "nationality", "typos"]
    assert names(resolve_tests("typos, names", directional=False)) == ["typos", "names"]
    with pytest.raises(ProbeError, match="Unknown probe 'tipos'"):
        resolve_tests(["tipos"], directional=False)
    with pytest.raises(ProbeError, match="needs to know which class should move"):
        resolve_tests(["negation"], directional=False)


def test_expectations_and_direction_config():
    drop = Expectation("positive", -1, 0.1)
    assert list(drop.fails([0.9, 0.9, 0.9], [0.85, 0.8, 0.95])) == [True, False, True]
    tolerant = Expectation("positive", +1, -0.05)
    assert list(tolerant.fails([0.9, 0.9], [0.86, 0.84])) == [False, True]
    assert drop.describe() == "P(positive) should fall by at least 0.10"
    assert tolerant.describe() == "P(positive) should not fall by more than 0.05"
    with pytest.raises(ProbeError):
        Expectation("positive", 0)
    config = DirectionConfig.sentiment("fresh", "rotten")
    assert DirectionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ProbeError, match="does not have"):
        config.validate(("negative", "positive"))
    assert guess_directions(("fresh", "rotten")) == config
    assert guess_directions(("NEGATIVE", "POSITIVE")).negation[0].label == "POSITIVE"
    assert guess_directions(("sports", "politics", "tech")) is None
