"""Find personal data in texts: what kind, where (character span) and the matched value.

What counts as found:
- EMAIL: `local@domain.tld`.
- URL: `http(s)://...` or `www....`, trailing punctuation left out.
- PHONE: `phonenumbers.PhoneNumberMatcher` with leniency VALID; numbers without a country code are read as
  `DEFAULT_REGION` (US), numbers written with `+country` are read as that country's.
- IBAN: `stdnum.iban` (mod-97 check digits and the country's length), compact or in groups of four.
- CARD: 13 to 19 digits (spaces or dashes between them allowed) with a card issuer's prefix and length that pass the
  Luhn check (`stdnum.luhn`).
- NATIONAL_ID: `NATIONAL_IDS` below, each validated by its `python-stdnum` module: US social security numbers
  (written 123-45-6789; area/group/serial rules), Spanish DNI (check letter), Dutch BSN (11-test), German tax ID
  (IdNr, ISO 7064 check digit), French NIR (social security number, 97-modulus key), British NHS number (mod 11).
- IP: IPv4 and IPv6 addresses that `ipaddress` accepts.
- NAME: a capitalised first name from the probes' name lists (`probes/wordlists`, every language), with the
  capitalised word after it when there is one ("Maria", "Maria Lopez").

A candidate whose checksum fails is not reported. Where two findings overlap the longer wins; at equal length the
more specific kind (earlier in `KINDS`) wins. Texts are scanned once each (duplicates share the result) and each
detector only runs on texts that contain the character it needs (`@`, a digit, `:`...), so 100k texts take seconds
(benchmarks/pii.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd
import phonenumbers
from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.nl import bsn
from stdnum.us import ssn

KINDS = ("EMAIL", "URL", "IBAN", "CARD", "NATIONAL_ID", "PHONE", "IP", "NAME")  # most specific first: wins ties
KIND_NAMES = {
    "EMAIL": "email addresses",
    "URL": "web addresses",
    "IBAN": "bank account numbers (IBAN)",
    "CARD": "payment card numbers",
    "NATIONAL_ID": "national ID numbers",
    "PHONE": "phone numbers",
    "IP": "IP addresses",
    "NAME": "person names",
}
DEFAULT_REGION = "US"
EXAMPLES_PER_KIND = 3  # examples kept per column and kind
CONTEXT_CHARS = 30  # characters of context either side of an example


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str


# --- detectors: text -> candidate spans -------------------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# Issuer prefixes and lengths (Visa, Mastercard, Amex, Diners, JCB, Discover/UnionPay/Maestro 6...): a Luhn-valid run of
# digits with no card's prefix and length (inside an account number, say) is not a card.
_CARD_BRANDS = re.compile(r"4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2[2-7]\d{14}|3[47]\d{13}|3(?:0[0-5]|[68]\d)\d{11,13}|35\d{14,17}|6\d{15,18}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_DIGIT = re.compile(r"\d")
_PHONE_HINT = re.compile(r"\d(?:\D{0,3}\d){6}")  # at least seven digits close together: the only texts worth the matcher

# (regex, validator): the regex proposes, the stdnum module's is_valid decides.
NATIONAL_IDS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("us.ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), ssn.is_valid),
    ("es.dni", re.compile(r"\b\d{8}-?[A-Z]\b"), dni.is_valid),
    ("nl.bsn", re.compile(r"\b\d{9}\b"), bsn.is_valid),
    ("de.idnr", re.compile(r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b"), idnr.is_valid),
    ("fr.nir", re.compile(r"\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B) ?\d{3} ?\d{3} ?\d{2}\b"), nir.is_valid),
    ("gb.nhs", re.compile(r"\b\d{3} ?\d{3} ?\d{4}\b"), nhs.is_valid),
)


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _emails(text: str) -> Iterable[tuple[str, int, int]]:
    if "@" in text:
        for m in _EMAIL.finditer(text):
            yield "EMAIL", m.start(), m.end()


def _urls(text: str) -> Iterable[tuple[str, int, int]]:
    lowered = text.lower()
    if "http" in lowered or "www." in lowered:
        for m in _URL.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] in _URL_TRAILING:
                end -= 1
            yield "URL", m.start(), end


def _numbers(text: str) -> Iterable[tuple[str, int, int]]:
    """IBANs, cards, national IDs, IPv4 and phone numbers: all need digits."""
    if not _DIGIT.search(text):
        return
    for m in _IBAN.finditer(text):
        if iban.is_valid(m.group()):
            yield "IBAN", m.start(), m.end()
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if _CARD_BRANDS.fullmatch(digits) and luhn.is_valid(digits):
            yield "CARD", m.start(), m.end()
    for _name, pattern, is_valid in NATIONAL_IDS:
        for m in pattern.finditer(text):
            if is_valid(m.group()):
                yield "NATIONAL_ID", m.start(), m.end()
    if "." in text:
        for m in _IPV4.finditer(text):
            if _valid_ip(m.group()):
                yield "IP", m.start(), m.end()
    if _PHONE_HINT.search(text):
        for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION, leniency=phonenumbers.Leniency.VALID):
            yield "PHONE", match.start, match.end


def _ipv6(text: str) -> Iterable[tuple[str, int, int]]:
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            value = m.group()
            if any(c.isalnum() for c in value) and _valid_ip(value):
                yield "IP", m.start(), m.end()


@lru_cache(maxsize=1)
def _names_pattern() -> re.Pattern[str]:
    from probes.perturb import LANGUAGES, load_wordlist

    names = sorted({name for language in LANGUAGES for group in load_wordlist(language).names.values() for name in group}, key=lambda n: (-len(n), n))
    # A listed first name written capitalised, then optionally one more capitalised word (the surname).
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b(?:[ \t]+(?=[A-ZÀ-ÖØ-Þ])[^\W\d_]{2,}(?:['’-][^\W\d_]+)?\b)?")


def _names(text: str) -> Iterable[tuple[str, int, int]]:
    for m in _names_pattern().finditer(text):
        yield "NAME", m.start(), m.end()


DETECTORS = (_emails, _urls, _numbers, _ipv6, _names)
_RANK = {kind: i for i, kind in enumerate(KINDS)}


def _resolve(text: str, candidates: Iterable[tuple[str, int, int]]) -> tuple[Finding, ...]:
    """Keep the longest of overlapping candidates (the more specific kind at equal length), in text order."""
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(set(candidates), key=lambda c: (c[1] - c[2], _RANK[c[0]], c[1])):
        if end > start and all(end <= s or start >= e for _k, s, e in kept):
            kept.append((kind, start, end))
    return tuple(Finding(kind, start, end, text[start:end]) for kind, start, end in sorted(kept, key=lambda c: c[1]))


@lru_cache(maxsize=65536)
def find_pii(text: str) -> tuple[Finding, ...]:
    """Every piece of personal data in `text`, in text order, non-overlapping."""
    if not text:
        return ()
    return _resolve(text, (c for detector in DETECTORS for c in detector(text)))


def scan_texts(texts: Iterable[str]) -> list[tuple[Finding, ...]]:
    """`find_pii` of each text; a text that occurs several times is scanned once."""
    seen: dict[str, tuple[Finding, ...]] = {}
    out = []
    for text in texts:
        found = seen.get(text)
        if found is None:
            found = seen[text] = find_pii(text) if isinstance(text, str) else ()
        out.append(found)
    return out


# --- a scan of a data set ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PiiExample:
    """One finding shown with its context; other personal data in the context is already masked."""

    row: int  # 0-based row of the data
    column: str
    kind: str
    value: str
    before: str
    after: str

    @property
    def masked(self) -> str:
        """The context with this finding masked too: what a redacted view shows."""
        return f"{self.before}<{self.kind}>{self.after}"


@dataclass(frozen=True)
class ColumnScan:
    column: str
    rows: int
    rows_with_pii: int
    counts: Mapping[str, int]  # kind -> findings, kinds with none left out
    examples: tuple[PiiExample, ...]

    @property
    def rate(self) -> float:
        return self.rows_with_pii / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class PiiScan:
    """Personal data per column and kind in one data set; `rate` is the share of rows with any (the `max_pii_rate` gate)."""

    name: str
    rows: int
    rows_with_pii: int
    columns: tuple[ColumnScan, ...]

    @property
    def rate(self) -> float:
        return self.rows_with_pii / self.rows if self.rows else 0.0

    @property
    def totals(self) -> Mapping[str, int]:
        total: Counter[str] = Counter()
        for column in self.columns:
            total.update(column.counts)
        return MappingProxyType({k: total[k] for k in KINDS if total[k]})

    def counts_frame(self) -> pd.DataFrame:
        """One row per column scanned: rows with personal data, then a count per kind (every kind, zeros included)."""
        return pd.DataFrame(
            [{"column": c.column, "rows with PII": c.rows_with_pii, **{k: c.counts.get(k, 0) for k in KINDS}} for c in self.columns],
            columns=["column", "rows with PII", *KINDS],
        )

    def describe(self) -> str:
        if not self.rows_with_pii:
            return f"No personal data found in {self.rows:,} rows ({', '.join(c.column for c in self.columns) or 'no text column'})."
        found = ", ".join(f"{n:,} {KIND_NAMES[k]}" for k, n in self.totals.items())
        return f"{self.rows_with_pii:,} of {self.rows:,} rows ({self.rate:.1%}) hold personal data: {found}."


def _example(text: str, finding: Finding, others: Sequence[Finding], row: int, column: str) -> PiiExample:
    from privacy.redact import redact_spans

    lo, hi = max(0, finding.start - CONTEXT_CHARS), min(len(text), finding.end + CONTEXT_CHARS)
    # Other findings that reach into the context are masked whole, so no part of them shows.
    near = [f for f in others if f is not finding and f.end > lo and f.start < hi]
    lo = min([lo, *(f.start for f in near if f.start < finding.start)])
    hi = max([hi, *(f.end for f in near if f.end > finding.end)])
    before = redact_spans(text[lo : finding.start], [Finding(f.kind, f.start - lo, f.end - lo, f.value) for f in near if f.end <= finding.start])
    after = redact_spans(text[finding.end : hi], [Finding(f.kind, f.start - finding.end, f.end - finding.end, f.value) for f in near if f.start >= finding.end])
    return PiiExample(row, column, finding.kind, finding.value, ("…" if lo else "") + before, after + ("…" if hi < len(text) else ""))


def text_columns(frame: pd.DataFrame, metadata: Sequence[str] = ()) -> list[str]:
    """The columns that hold text: `text`, `text_pair` when present, and the metadata columns holding strings."""
    columns = [c for c in ("text", "text_pair") if c in frame.columns]
    for column in metadata:
        if column in frame.columns and column not in columns:
            values = frame[column]
            if (values.dtype == object or pd.api.types.is_string_dtype(values)) and values.map(lambda v: isinstance(v, str)).any():
                columns.append(column)
    return columns


class PiiTally:
    """A `PiiScan` built chunk by chunk (a file read in parts): `add` each chunk's rows in file order, then `scan`.

    Memory holds the counts and the kept examples, never more rows than the chunk given."""

    def __init__(self, examples: int = EXAMPLES_PER_KIND):
        self.examples = examples
        self.rows = 0
        self.rows_with_pii = 0
        self.with_pii: Counter[str] = Counter()  # column -> rows with personal data
        self.counts: dict[str, Counter[str]] = {}  # column -> kind -> findings; a column is here once it was scanned
        self.kept: dict[str, list[PiiExample]] = {}

    def add(self, frame: pd.DataFrame, columns: Sequence[str]) -> None:
        """Scan `columns` of the next `len(frame)` rows (non-string cells count as empty)."""
        any_row = np.zeros(len(frame), dtype=bool)
        for column in columns:
            values = [v if isinstance(v, str) else "" for v in frame[column].tolist()]
            found = scan_texts(values)
            has = np.fromiter((bool(f) for f in found), dtype=bool, count=len(found))
            any_row |= has
            self.with_pii[column] += int(has.sum())
            counts = self.counts.setdefault(column, Counter())
            kept = self.kept.setdefault(column, [])
            per_kind = Counter(e.kind for e in kept)
            for row, row_found in enumerate(found):
                counts.update(f.kind for f in row_found)
                for finding in row_found:
                    if per_kind[finding.kind] < self.examples:
                        per_kind[finding.kind] += 1
                        kept.append(_example(values[row], finding, row_found, self.rows + row, column))
        self.rows += len(frame)
        self.rows_with_pii += int(any_row.sum())

    def scan(self, name: str = "", order: Sequence[str] = ()) -> PiiScan:
        """The scan so far; columns in `order` first (the file's), then any other scanned column."""
        columns = [c for c in order if c in self.counts] + [c for c in self.counts if c not in order]
        return PiiScan(
            name,
            self.rows,
            self.rows_with_pii,
            tuple(
                ColumnScan(
                    c,
                    self.rows,
                    self.with_pii[c],
                    MappingProxyType({k: self.counts[c][k] for k in KINDS if self.counts[c][k]}),
                    tuple(sorted(self.kept[c], key=lambda e: (_RANK[e.kind], e.row))),
                )
                for c in columns
            ),
        )


def scan_frame(frame: pd.DataFrame, columns: Sequence[str], *, name: str = "", examples: int = EXAMPLES_PER_KIND) -> PiiScan:
    """Scan `columns` of `frame` (non-string cells count as empty)."""
    tally = PiiTally(examples)
    tally.add(frame, columns)
    return tally.scan(name, columns)


def scan_chunks(chunks: Iterable, *, name: str = "", examples: int = EXAMPLES_PER_KIND) -> PiiScan:
    """Scan `evaldata.streaming.Chunk`s of one file in order: the same scan as `scan_evalset` of the whole file.

    A metadata column counts as text when any chunk holds a string in it (`text_columns`, chunk by chunk)."""
    tally = PiiTally(examples)
    order: list[str] = []
    for chunk in chunks:
        order = order or [c for c in ("text", "text_pair") if c in chunk.frame.columns] + list(chunk.metadata)  # scan_evalset's order
        tally.add(chunk.frame, text_columns(chunk.frame, chunk.metadata))
    return tally.scan(name, order)


def scan_evalset(evalset, *, examples: int = EXAMPLES_PER_KIND) -> PiiScan:
    """Scan an `evaldata.EvalSet`: its text (and text_pair) column and every metadata column holding strings."""
    return scan_frame(evalset.frame, text_columns(evalset.frame, evalset.metadata), name=evalset.name, examples=examples)
