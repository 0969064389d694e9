"""CheckList-style perturbations (Ribeiro et al., 2020): text in, perturbed texts out. No model here.

Three kinds of test:

- invariance: typos, casing, punctuation, extra whitespace, a neutral clause appended.
  The prediction should not change.
- fairness: person names, gendered words and nationalities swapped using the word lists
  in `probes/wordlists/{en,es}.yaml`. The prediction should not change.
- directional: a negation or an intensifier is added; the probability of a configured class
  should move the expected way (`DirectionConfig`). Without a config these tests do not run:
  "negation lowers the positive class" only makes sense for sentiment-like tasks.

Every perturbation is deterministic: its random choices come from a generator seeded with
(seed, test name, text), so the same text gets the same perturbations whatever the sample
or its order, and two checkpoints are probed with exactly the same inputs.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from models.errors import VeredictoError

WORDLIST_DIR = Path(__file__).parent / "wordlists"
LANGUAGES = ("en", "es")
KINDS = ("invariance", "fairness", "directional")
DEFAULT_VARIANTS = 3


class ProbeError(VeredictoError):
    """A probe configuration or word list a person can fix."""


# --- word lists ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class WordList:
    """One language's word lists, read from `probes/wordlists/<language>.yaml`."""

    language: str
    name: str
    markers: frozenset[str]
    names: Mapping[str, tuple[str, ...]]
    gendered_pairs: tuple[tuple[str, str], ...]
    nationalities: Mapping[str, tuple[str, ...]]
    neutral_clauses: tuple[str, ...]
    negation_words: Mapping[str, str]
    negation_prefix: str | None
    already_negated: tuple[str, ...]
    intensifiers: tuple[str, ...]
    adjectives: tuple[str, ...]
    her_object_followers: frozenset[str]
    path: Path

    @property
    def gender_map(self) -> dict[str, str]:
        """lowercase word -> its counterpart; for a word listed twice the first pair wins."""
        out: dict[str, str] = {}
        for masculine, feminine in self.gendered_pairs:
            out.setdefault(masculine.lower(), feminine.lower())
        for masculine, feminine in self.gendered_pairs:
            out.setdefault(feminine.lower(), masculine.lower())
        return out


def _strings(value, what: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProbeError(f"{path.name}: '{what}' must be a list of non-empty words, got {value!r}.")
    return tuple(v.strip() for v in value)


def _groups(value, what: str, path: Path) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        raise ProbeError(f"{path.name}: '{what}' must map group names to lists of words.")
    groups = {str(k): _strings(v, f"{what}.{k}", path) for k, v in value.items()}
    seen: dict[str, str] = {}
    for group, words in groups.items():
        for word in words:
            other = seen.setdefault(word.lower(), group)
            if other != group:
                raise ProbeError(f"{path.name}: '{word}' is in both {what}.{other} and {what}.{group}; a word may sit in one group only.")
    return groups


@lru_cache(maxsize=16)
def _load(path: Path) -> WordList:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProbeError(f"Word list {path} could not be read: {str(exc).splitlines()[0]}.") from None
    if not isinstance(data, dict):
        raise ProbeError(f"Word list {path} must be a YAML mapping.")
    pairs = []
    for pair in data.get("gendered_pairs") or []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(w, str) for w in pair)):
            raise ProbeError(f"{path.name}: every gendered pair must be [masculine, feminine], got {pair!r}.")
        pairs.append((pair[0].strip(), pair[1].strip()))
    negation = data.get("negation") or {}
    words = negation.get("words") or {}
    if not isinstance(words, dict):
        raise ProbeError(f"{path.name}: negation.words must map a word to its negated form.")
    return WordList(
        language=str(data.get("language", path.stem)),
        name=str(data.get("name", path.stem)),
        markers=frozenset(w.lower() for w in _strings(data.get("markers"), "markers", path)),
        names=_groups(data.get("names"), "names", path),
        gendered_pairs=tuple(pairs),
        nationalities=_groups(data.get("nationalities"), "nationalities", path),
        neutral_clauses=_strings(data.get("neutral_clauses"), "neutral_clauses", path),
        negation_words={str(k): str(v) for k, v in words.items()},
        negation_prefix=negation.get("prefix") or None,
        already_negated=_strings(negation.get("already_negated"), "negation.already_negated", path),
        intensifiers=_strings(data.get("intensifiers"), "intensifiers", path),
        adjectives=tuple(dict.fromkeys(_strings(data.get("adjectives"), "adjectives", path))),
        her_object_followers=frozenset(w.lower() for w in _strings(data.get("her_object_followers"), "her_object_followers", path)),
        path=path,
    )


@lru_cache(maxsize=16)
def load_wordlist(language: str, directory: str | Path | None = None) -> WordList:
    """The word list of `language` ('en' or 'es'), from `directory` (default: probes/wordlists)."""
    path = Path(directory or WORDLIST_DIR) / f"{language}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in Path(directory or WORDLIST_DIR).glob("*.yaml"))
        raise ProbeError(f"No word list for language '{language}' ({path} is missing). Available: {', '.join(available) or 'none'}.")
    return _load(path.resolve())


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@lru_cache(maxsize=65536)
def detect_language(text: str, languages: tuple[str, ...] = LANGUAGES) -> str:
    """The language whose marker words occur most in `text` (ties and no evidence: the first one)."""
    words = [w.lower() for w in _WORD.findall(text)]
    best, best_hits = languages[0], 0
    for language in languages:
        markers = load_wordlist(language).markers
        hits = sum(w in markers for w in words)
        if hits > best_hits:
            best, best_hits = language, hits
    return best


# --- helpers ------------------------------------------------------------------------------------


def rng_for(seed: int, test: str, text: str) -> np.random.Generator:
    """The generator behind a text's perturbations: same (seed, test, text), same choices."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(test.encode()), zlib.crc32(text.encode("utf-8", "surrogatepass"))])


def _alternation(words: Iterable[str]) -> re.Pattern:
    ordered = sorted({w.lower() for w in words}, key=len, reverse=True)
    body = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered) or r"(?!x)x"
    # whole words only; a possessive or a contraction may follow ("Mary's", "she'll"), other apostrophe endings may not
    return re.compile(rf"(?<![\w'’])({body})(?!\w)(?!['’](?!(?:s|ll|d|re|ve|m)\b)\w)", re.IGNORECASE)


def match_case(source: str, replacement: str) -> str:
    """`replacement` written the way `source` is: UPPER, Capitalised or lower."""
    if len(source) > 1 and source.isupper():
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement.lower()


def _unique(text: str, variants: Iterable[str]) -> list[str]:
    return [v for v in dict.fromkeys(variants) if v != text and v.strip()]


@dataclass(frozen=True, eq=False)
class _Swapper:
    """Find words of some groups and replace each by another word (of its own group, or of any)."""

    groups: Mapping[str, tuple[str, ...]]
    same_group: bool
    pattern: re.Pattern = field(init=False)
    group_of: dict[str, str] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "pattern", _alternation(w for ws in self.groups.values() for w in ws))
        object.__setattr__(self, "group_of", {re.sub(r"\s+", " ", w.lower()): g for g, ws in self.groups.items() for w in ws})

    def found(self, text: str) -> list[str]:
        return list(dict.fromkeys(re.sub(r"\s+", " ", m.group(1).lower()) for m in self.pattern.finditer(text)))

    def variants(self, text: str, rng: np.random.Generator, n: int, pools: Mapping[str, tuple[str, ...]]) -> list[str]:
        found = self.found(text)
        if not found:
            return []
        everything = [w for ws in pools.values() for w in ws]
        choices = {}
        for term in found:
            if self.same_group:
                group = self.group_of.get(term)
                pool = list(pools.get(group, ())) if group is not None else []
            else:
                pool = everything
            pool = [w for w in dict.fromkeys(pool) if w.lower() not in found]
            if not pool:
                continue
            picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
            choices[term] = [pool[i] for i in picks]
        if not choices:
            return []
        out = []
        for v in range(max(len(c) for c in choices.values())):
            mapping = {term: picks[v % len(picks)] for term, picks in choices.items()}

            def swap(m: re.Match, mapping: dict[str, str] = mapping) -> str:
                term = re.sub(r"\s+", " ", m.group(1).lower())
                return match_case(m.group(1), mapping[term]) if term in mapping else m.group(1)

            out.append(self.pattern.sub(swap, text))
        return _unique(text, out)


@lru_cache(maxsize=16)
def _resources(language: str) -> dict:
    wl = load_wordlist(language)
    all_names: dict[str, tuple[str, ...]] = {}
    for lang in LANGUAGES:
        for group, words in load_wordlist(lang).names.items():
            all_names[group] = tuple(dict.fromkeys(all_names.get(group, ()) + words))
    gender = wl.gender_map
    return {
        "wl": wl,
        # names are found in every language's list (a Spanish text may mention "John") and replaced from the text's own list
        "names": _Swapper(all_names, same_group=False),
        "nationalities": _Swapper(wl.nationalities, same_group=True),
        "gender": (_alternation(gender), gender),
        "negation": _alternation(wl.negation_words),
        "negated": _alternation(w for w in wl.already_negated if "'" not in w),
        "adjectives": _alternation(wl.adjectives),
        "intensifiers": {w.lower() for w in wl.intensifiers},
    }


def _is_negated(text: str, res: dict) -> bool:
    lowered = text.lower()
    return bool(res["negated"].search(text)) or "n't" in lowered or "n’t" in lowered


# --- the perturbations ----------------------------------------------------------------------------

_NEIGHBOURS = {
    "a": "qwsz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}
_TYPO_WORD = re.compile(r"[^\W\d_]{3,}")


def _typo(word: str, rng: np.random.Generator) -> str:
    ops = ["swap", "delete", "double", "neighbour"]
    for _ in range(8):
        op = ops[int(rng.integers(len(ops)))]
        i = int(rng.integers(len(word)))
        if op == "swap" and i < len(word) - 1 and word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if op == "delete" and len(word) >= 4:
            return word[:i] + word[i + 1 :]
        if op == "double":
            return word[: i + 1] + word[i] + word[i + 1 :]
        if op == "neighbour" and word[i].lower() in _NEIGHBOURS:
            options = _NEIGHBOURS[word[i].lower()]
            new = options[int(rng.integers(len(options)))]
            return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1 :]
    return word[::-1] if word[::-1] != word else word + word[-1]


def typos(text: str, rng: np.random.Generator, n: int, res: dict) -> list[str]:
    """n variants, each with one keyboard typo (swapped, dropped, doubled or neighbouring letter) in one word."""
    words = list(_TYPO_WORD.finditer(text))
    if not words:
        return []
    out = []
    for _ in range(n):
        m = words[int(rng.integers(len(words)))]
        out.append(text[: m.start()] + _typo(m.group(0), rng) + text[m.end() :])
    return _unique(text, out)


def casing(text: str, rng, n, res) -> list[str]:
    """All lowercase and ALL CAPS."""
    return _unique(text, [text.lower(), text.upper()])


_TRAILING = re.compile(r"[\s.!?…,;:]+$")


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def strip_punctuation(text: str) -> str:
    """Every punctuation mark removed, except apostrophes and hyphens inside a word ("don't", "well-made").

    A run of marks glued between two words ("dijo—¿qué") becomes a space, so the words stay apart.
    """
    out = []
    i = 0
    while i < len(text):
        if not _is_punct(text[i]):
            out.append(text[i])
            i += 1
            continue
        j = i
        while j < len(text) and _is_punct(text[j]):
            j += 1
        between = i > 0 and j < len(text) and text[i - 1].isalnum() and text[j].isalnum()
        if between and j - i == 1 and text[i] in "'’-":
            out.append(text[i])
        elif between:
            out.append(" ")
        i = j
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip()


def punctuation(text: str, rng, n, res) -> list[str]:
    """Final punctuation removed (or a full stop added where there is none), and all punctuation removed."""
    stripped = _TRAILING.sub("", text)
    first = stripped if stripped != text.rstrip() else text.rstrip() + "."
    return _unique(text, [first, strip_punctuation(text)])


def whitespace(text: str, rng, n, res) -> list[str]:
    """Every space doubled, and spaces plus a line break around the text."""
    return _unique(text, [re.sub(r" ", "  ", text), "  " + text + " \n"])


def neutral_clause(text: str, rng: np.random.Generator, n: int, res: dict) -> list[str]:
    """One of the word list's neutral sentences appended."""
    clauses = res["wl"].neutral_clauses
    if not clauses:
        return []
    base = text.rstrip()
    sep = " " if not base or not (base[-1].isalnum() or base[-1] in "\"'”’)") else ". "
    picks = rng.choice(len(clauses), size=min(n, len(clauses)), replace=False)
    return _unique(text, [base + sep + clauses[i] if base else clauses[i] for i in picks])


def names(text: str, rng, n, res) -> list[str]:
    """Each person name replaced by another name of the list (female and male names alike)."""
    wl = res["wl"]
    return res["names"].variants(text, rng, n, wl.names)


def gender(text: str, rng, n, res) -> list[str]:
    """Every gendered word swapped for its counterpart (he <-> she, actor <-> actress, ...)."""
    pattern, mapping = res["gender"]
    followers = res["wl"].her_object_followers
    if not pattern.search(text):
        return []

    def swap(m: re.Match) -> str:
        word = m.group(1)
        key = word.lower()
        target = mapping.get(key, key)
        if key == "her" and followers:
            nxt = re.match(r"\s*([\w'’]+)", text[m.end() :])
            target = "his" if nxt and nxt.group(1).lower() not in followers else "him"
        return match_case(word, target)

    return _unique(text, [pattern.sub(swap, text)])


def nationality(text: str, rng, n, res) -> list[str]:
    """Each country replaced by another country, each nationality by another nationality."""
    return res["nationalities"].variants(text, rng, n, res["wl"].nationalities)


def negation(text: str, rng, n, res) -> list[str]:
    """The first negatable verb negated ("was" -> "was not"); or the list's prefix ("It is not true that ...")."""
    if _is_negated(text, res):
        return []
    wl = res["wl"]
    m = res["negation"].search(text)
    if m:
        key = re.sub(r"\s+", " ", m.group(1).lower())
        negated = next(v for k, v in wl.negation_words.items() if k.lower() == key)
        return _unique(text, [text[: m.start()] + match_case(m.group(1), negated) + text[m.end() :]])
    if wl.negation_prefix and text.strip():
        body = text.strip()
        first = body.split()[0]
        if not (first == "I" or first.isupper() or res["names"].found(first)):
            body = body[:1].lower() + body[1:]
        return _unique(text, [wl.negation_prefix + body])
    return []


def intensifier(text: str, rng, n, res) -> list[str]:
    """An intensifier ("very", "really", ...) put before the first adjective of the list."""
    if _is_negated(text, res):
        return []
    for m in res["adjectives"].finditer(text):
        before = re.findall(r"[\w'’]+", text[: m.start()])
        if before and before[-1].lower() in res["intensifiers"]:
            continue
        words = res["wl"].intensifiers
        picks = rng.choice(len(words), size=min(n, len(words)), replace=False)
        adjective = m.group(1)
        out = []
        for i in picks:
            word = words[i]
            if m.start() == 0 and adjective[:1].isupper() and not adjective.isupper():
                word, adjective_here = word[:1].upper() + word[1:], adjective[:1].lower() + adjective[1:]
            else:
                word, adjective_here = match_case(adjective, word) if adjective.isupper() and len(adjective) > 1 else word, adjective
            out.append(text[: m.start()] + word + " " + adjective_here + text[m.end() :])
        return _unique(text, out)
    return []


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeTest:
    """One behavioural test: what it changes and what a robust model should do."""

    name: str
    kind: str  # invariance | fairness | directional
    title: str
    description: str
    perturb: Callable = field(repr=False, compare=False)

    def variants(self, text: str, *, seed: int = 0, n_variants: int = DEFAULT_VARIANTS, language: str = "auto") -> list[str]:
        """The perturbed versions of `text` (none when the test does not apply to it)."""
        if not isinstance(text, str) or not text.strip():
            return []
        lang = detect_language(text) if language == "auto" else language
        if lang not in LANGUAGES:
            raise ProbeError(f"Unknown probe language '{language}'. Choose auto, {', '.join(LANGUAGES)}.")
        return self.perturb(text, rng_for(seed, self.name, text), max(1, int(n_variants)), _resources(lang))


_TESTS = (
    ProbeTest("typos", "invariance", "Typos", "One keyboard typo per variant; the prediction should not change.", typos),
    ProbeTest("casing", "invariance", "Casing", "All lowercase / ALL CAPS; the prediction should not change.", casing),
    ProbeTest(
        "punctuation",
        "invariance",
        "Punctuation",
        "Final punctuation removed or added, all punctuation removed; the prediction should not change.",
        punctuation,
    ),
    ProbeTest(
        "whitespace", "invariance", "Extra whitespace", "Doubled spaces, spaces and a line break around the text; the prediction should not change.", whitespace
    ),
    ProbeTest(
        "neutral_clause",
        "invariance",
        "Neutral clause",
        "A sentence that says nothing about the label is appended; the prediction should not change.",
        neutral_clause,
    ),
    ProbeTest("names", "fairness", "Person names", "Person names swapped for other names (female and male); the prediction should not change.", names),
    ProbeTest("gender", "fairness", "Gendered words", "Gendered words swapped (he/she, actor/actress, …); the prediction should not change.", gender),
    ProbeTest("nationality", "fairness", "Nationalities", "Countries and nationalities swapped for others; the prediction should not change.", nationality),
    ProbeTest("negation", "directional", "Negation", "A negation is added; the configured class's probability should move the configured way.", negation),
    ProbeTest(
        "intensifier",
        "directional",
        "Intensifier",
        "An intensifier is added before an adjective; the configured class's probability should not move against the configured way.",
        intensifier,
    ),
)
TESTS: dict[str, ProbeTest] = {t.name: t for t in _TESTS}


def perturb(test: str, text: str, *, seed: int = 0, n_variants: int = DEFAULT_VARIANTS, language: str = "auto") -> list[str]:
    """Perturbed versions of `text` for the test named `test`."""
    return get_test(test).variants(text, seed=seed, n_variants=n_variants, language=language)


def get_test(name: str) -> ProbeTest:
    try:
        return TESTS[name]
    except KeyError:
        raise ProbeError(f"Unknown probe '{name}'. Available: {', '.join(TESTS)} (or a kind: {', '.join(KINDS)}, or 'all').") from None


def resolve_tests(spec: Iterable[str] | str | None, *, directional: bool) -> tuple[ProbeTest, ...]:
    """Tests named by `spec` (test names, kinds, or 'all'; None = all). Directional tests need `directional`.

    Naming a directional test explicitly without a direction config is an error; asking for 'all'
    (or nothing) without one simply leaves them out.
    """
    if isinstance(spec, str):
        spec = [s for s in re.split(r"[,\s]+", spec) if s]
    names: list[str] = []
    explicit = set()
    for item in spec or ["all"]:
        item = item.strip().lower()
        if item == "all":
            names += list(TESTS)
        elif item in KINDS:
            names += [t.name for t in _TESTS if t.kind == item]
            explicit |= {t.name for t in _TESTS if t.kind == item}
        else:
            names.append(get_test(item).name)
            explicit.add(item)
    chosen = []
    for name in dict.fromkeys(names):
        test = TESTS[name]
        if test.kind == "directional" and not directional:
            if name in explicit:
                raise ProbeError(
                    f"The '{name}' probe needs to know which class should move: give the positive class "
                    "(e.g. --positive-label positive), or leave directional probes out."
                )
            continue
        chosen.append(test)
    if not chosen:
        raise ProbeError("No probe to run. Choose at least one test.")
    return tuple(chosen)


# --- directional expectations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """On examples predicted as `label`, P(label) should move by `direction` (+1 up, -1 down).

    A variant fails when direction * (P_after - P_before) < min_change: min_change > 0 demands a
    move of at least that size ("negation must lower P(positive) by 0.1"), min_change < 0 only
    forbids a move the wrong way larger than |min_change| ("an intensifier must not lower it by
    more than 0.05", CheckList's monotonic expectation with a tolerance).
    """

    label: str
    direction: int
    min_change: float = 0.0

    def __post_init__(self):
        if self.direction not in (1, -1):
            raise ProbeError(f"An expectation's direction must be +1 (up) or -1 (down), got {self.direction!r}.")

    def fails(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        return self.direction * (np.asarray(after) - np.asarray(before)) < self.min_change - 1e-9

    def describe(self) -> str:
        way = "rise" if self.direction > 0 else "fall"
        if self.min_change > 0:
            return f"P({self.label}) should {way} by at least {self.min_change:.2f}"
        if self.min_change < 0:
            against = "fall" if self.direction > 0 else "rise"
            return f"P({self.label}) should not {against} by more than {-self.min_change:.2f}"
        return f"P({self.label}) should not {'fall' if self.direction > 0 else 'rise'}"


@dataclass(frozen=True)
class DirectionConfig:
    """Which class each directional test should move, and how far. Tests without expectations are off."""

    negation: tuple[Expectation, ...] = ()
    intensifier: tuple[Expectation, ...] = ()

    @classmethod
    def sentiment(cls, positive: str, negative: str | None = None, *, negation_drop: float = 0.1, tolerance: float = 0.05) -> DirectionConfig:
        """Negating a positive text should lower P(positive) by `negation_drop`; an intensifier should not
        lower the predicted class's probability by more than `tolerance` (positive, and negative if given).
        Negating a negative text ("not bad") is ambiguous, so it is not tested."""
        intens = [Expectation(positive, +1, -abs(tolerance))]
        if negative and negative != positive:
            intens.append(Expectation(negative, +1, -abs(tolerance)))
        return cls(negation=(Expectation(positive, -1, abs(negation_drop)),), intensifier=tuple(intens))

    def for_test(self, name: str) -> tuple[Expectation, ...]:
        return tuple(getattr(self, name, ()) or ())

    def validate(self, labels: Sequence[str]) -> DirectionConfig:
        for name in ("negation", "intensifier"):
            for exp in self.for_test(name):
                if exp.label not in labels:
                    raise ProbeError(f"The {name} probe watches class '{exp.label}', which the checkpoint does not have. Its labels are: {', '.join(labels)}.")
            seen = [e.label for e in self.for_test(name)]
            if len(seen) != len(set(seen)):
                raise ProbeError(f"The {name} probe has two expectations for the same class: {seen}.")
        return self

    def describe(self) -> str:
        parts = [f"{n}: " + "; ".join(e.describe() for e in self.for_test(n)) for n in ("negation", "intensifier") if self.for_test(n)]
        return " · ".join(parts) or "off"

    def to_dict(self) -> dict:
        return {n: [vars(e).copy() for e in self.for_test(n)] for n in ("negation", "intensifier")}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> DirectionConfig | None:
        if not data:
            return None
        return cls(**{n: tuple(Expectation(**e) for e in data.get(n, ())) for n in ("negation", "intensifier")})


POSITIVE_NAMES = ("positive", "pos", "fresh", "good", "favorable", "favourable", "like", "praise", "positivo", "positiva", "bueno", "buena", "happy", "joy")
NEGATIVE_NAMES = (
    "negative",
    "neg",
    "rotten",
    "bad",
    "unfavorable",
    "unfavourable",
    "dislike",
    "complaint",
    "negativo",
    "negativa",
    "malo",
    "mala",
    "sad",
    "anger",
)


def guess_directions(labels: Sequence[str]) -> DirectionConfig | None:
    """A sentiment config when the labels look like sentiment (positive/negative, fresh/rotten, ...), else None."""
    lowered = {str(l).strip().lower(): l for l in labels}
    positive = next((lowered[n] for n in POSITIVE_NAMES if n in lowered), None)
    if positive is None:
        return None
    negative = next((lowered[n] for n in NEGATIVE_NAMES if n in lowered), None)
    return DirectionConfig.sentiment(positive, negative)
