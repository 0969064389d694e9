"""A data file with personal data of every kind planted in it, and near-misses that must not be reported.

Every planted value passes its checksum (stdnum's is_valid); every near-miss is the same shape with one digit or
letter changed so that its checksum (or range) fails. The report and page tests search their output for `PLANTED`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# (kind, value): each valid, each in its own row of the text column
PLANTED = (
    ("EMAIL", "maria.lopez@example.com"),
    ("URL", "https://shop.example.org/orders?id=7781"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(415) 555-2671"),
    ("IBAN", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "GB82WEST12345698765432"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "5500-0000-0000-0004"),
    ("NATIONAL_ID", "536-90-4399"),  # US SSN
    ("NATIONAL_ID", "54362315K"),  # Spanish DNI
    ("NATIONAL_ID", "111222333"),  # Dutch BSN
    ("NATIONAL_ID", "36574261809"),  # German IdNr
    ("NATIONAL_ID", "295109912611193"),  # French NIR
    ("NATIONAL_ID", "401 023 2137"),  # British NHS number
    ("IP", "192.168.10.20"),
    ("IP", "2001:db8::8a2e:370:7334"),
    ("NAME", "Jennifer Okafor"),
)
# The same shapes with a failing checksum or an impossible value: never reported.
NEAR_MISSES = (
    "4111 1111 1111 1112",  # Luhn fails
    "DE89 3704 0044 0532 0130 01",  # IBAN check digits fail
    "000-12-3456",  # SSN area 000 is never issued
    "54362315Z",  # DNI letter wrong
    "111222334",  # BSN 11-test fails
    "36574261808",  # IdNr check digit wrong
    "295109912611192",  # NIR key wrong
    "401 023 2138",  # NHS mod 11 fails
    "999.168.10.20",  # not an IPv4 address
    "12:30:45",  # a time, not an IPv6 address
    "555-0100",  # too short to be a valid phone number
    "maria.lopez at example dot com",
    "jennifer",  # a name, but not written as one
)
# Distinctive pieces of the planted values (what a tokenizer or a wrapped line could cut them into), none of them in a near-miss.
PIECES: tuple[str, ...] = ("Jennifer", "Okafor", "lopez@", "smith@", "Carlos", "Ruiz", "7946 0958", "555-2671", "0130 00", "WEST1234", "90-4399")
PIECES += ("54362315K", "111222333", "36574261809", "295109912611193", "023 2137", "192.168.10.20", "8a2e", "orders?id=7781", "5500-0000")
# A metadata column (customer contact) with personal data too: the scan covers string metadata.
CUSTOMERS = ("john.smith@example.net", "Carlos Ruiz", "no contact", "ok")


def planted_frame() -> pd.DataFrame:
    texts = [f"Ticket {i}: the customer wrote {value} about the refund." for i, (_kind, value) in enumerate(PLANTED)]
    texts += [f"Ticket note: {value} was typed here, nothing else." for value in NEAR_MISSES]
    texts += ["A plain review with nothing personal in it.", "Good service, would come back."]
    labels = ["positive" if i % 2 else "negative" for i in range(len(texts))]
    customers = [CUSTOMERS[i % len(CUSTOMERS)] for i in range(len(texts))]
    return pd.DataFrame({"text": texts, "label": labels, "customer": customers})


def planted_file(folder: Path, name: str = "planted.csv") -> Path:
    path = Path(folder) / name
    planted_frame().to_csv(path, index=False)
    return path


def sensitive_values() -> list[str]:
    """Every planted value, including the metadata column's personal data: none may show once redacted."""
    return [value for _kind, value in PLANTED] + ["john.smith@example.net", "Carlos Ruiz"]


def leaks(output: str) -> list[str]:
    """The sensitive values found in `output` as written, HTML-escaped, URL-encoded or JSON-escaped."""
    import html
    import json
    from urllib.parse import quote, quote_plus

    found = []
    for value in sensitive_values():
        forms = {value, html.escape(value), quote(value), quote_plus(value), json.dumps(value)[1:-1], value.replace(" ", "\u00a0")}
        # names and numbers also in pieces a tokenizer might split them into
        if any(form in output for form in forms):
            found.append(value)
    return found
