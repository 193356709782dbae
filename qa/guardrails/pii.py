"""PII detection and redaction with checksum validation.

Kinds and replacement tokens: ``email`` -> ``[EMAIL]``, ``phone`` -> ``[PHONE]``, ``card`` ->
``[CARD]``, ``iban`` -> ``[IBAN]``, ``national_id`` -> ``[NATIONAL_ID]``.

Invariants:
- Findings never overlap and are sorted by ``start``; offsets index the input text.
- Anything with a check digit is only reported when the check passes: payment cards (Luhn, 13-19
  digits, issuer prefix 2-6), IBAN (ISO 13616 mod-97 and the country's length), Spanish DNI/NIE
  (mod-23 letter), French NIR (97 - n mod 97 key), Italian codice fiscale (odd/even table),
  Dutch BSN (11-proof, only next to a "BSN" keyword because a random 9-digit number passes 1 in
  11). US SSNs follow the SSA's invalid-range rules; UK NINOs the HMRC prefix rules.
- Phone numbers need a phone shape (``+``/``00`` country code, NANP ``(xxx) xxx-xxxx``, a trunk
  ``0`` national number with separators, French pairs) or a nearby keyword ("Tel", "phone",
  "Telefon", ...). Dates, years, year ranges, ISBNs, invoice/order numbers and page refs are
  rejected on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["PII_KINDS", "PiiFinding", "RedactionResult", "find_pii", "redact_pii"]

PII_KINDS: frozenset[str] = frozenset({"email", "phone", "card", "iban", "national_id"})
_TOKENS = {k: f"[{k.upper()}]" for k in PII_KINDS}


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """One PII match; ``detail`` names the sub-type (``us_ssn``, ``visa``...) for audit logs."""

    kind: str
    start: int
    end: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RedactionResult:
    text: str
    findings: list[PiiFinding]


# --------------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ISO 13616 registry lengths (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    """ISO 13616: known country, exact length, alphanumeric BBAN, mod-97 of the rearranged number == 1."""
    compact = compact.upper()
    if len(compact) < 5 or IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    if not compact[2:4].isdigit() or not compact[4:].isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def dni_ok(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter)."""
    v = value.upper().replace("-", "").replace(" ", "")
    if v[0] in "XYZ":
        v = str("XYZ".index(v[0])) + v[1:]
    if len(v) != 9 or not v[:8].isdigit():
        return False
    return _DNI_LETTERS[int(v[:8]) % 23] == v[8]


def nir_ok(value: str) -> bool:
    """French NIR (numéro de sécurité sociale): 13 characters + 2-digit key = 97 - (n mod 97)."""
    v = re.sub(r"\s", "", value).upper()
    if len(v) != 15:
        return False
    body, key = v[:13], v[13:]
    # Corsica: department 2A/2B is replaced by 19/18 for the computation.
    body = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    body = body.replace("2B", "18", 1) if body[5:7] == "2B" else body
    if not body.isdigit() or not key.isdigit():
        return False
    return 97 - int(body) % 97 == int(key)


_CF_ODD = {
    **dict(zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21], strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23],
            strict=True,
        )
    ),
}


def codice_fiscale_ok(value: str) -> bool:
    """Italian codice fiscale: 15 characters + control letter from the odd/even tables."""
    v = value.upper()
    if len(v) != 16 or not v.isalnum():
        return False
    total = 0
    for i, ch in enumerate(v[:15]):
        if i % 2 == 0:  # 1-based odd positions
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == v[15]


def bsn_ok(digits: str) -> bool:
    """Dutch BSN 11-proof: sum(d_i * (9 - i)) for i < 8, minus the last digit, divisible by 11."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:8])) - int(digits[8])
    return total % 11 == 0


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """SSA rules: area not 000/666/900-999, group not 00, serial not 0000; two famous dummies out."""
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}{group}{serial}" not in {"078051120", "219099999"}


# --------------------------------------------------------------------------------------------
# Detectors: each yields (start, end, detail)
# --------------------------------------------------------------------------------------------

Detector = Callable[[str], Iterable[tuple[int, int, str]]]

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)


def _emails(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _EMAIL.finditer(text):
        yield m.start(), m.end(), "email"


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")


def _ibans(text: str) -> Iterable[tuple[int, int, str]]:
    # Walk from each "CCdd" start, consuming exactly the country's length of alphanumerics with
    # optional single space/hyphen separators, so a trailing "BIC COBADEFF" is never swallowed.
    for m in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(m.group(1))
        if length is None:
            continue
        chars = [m.group(1), m.group(2)]
        count, i = 4, m.end()
        while count < length and i < len(text):
            ch = text[i]
            if ch.isascii() and ch.isalnum():
                chars.append(ch.upper())
                count += 1
                i += 1
            elif ch in " -" and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum():
                i += 1
            else:
                break
        if count != length:
            continue
        if i < len(text) and text[i].isascii() and text[i].isalnum():
            continue  # glued to more alphanumerics: not a whole IBAN
        if iban_ok("".join(chars)):
            yield m.start(), i, "iban"


_CARD = re.compile(r"(?<![\w.,/-])(?:\d[ -]?){12,18}\d(?![\w/-]|[.,]\d)")


# (network, prefix test, allowed lengths): the length rule keeps Luhn-passing IBAN tails, long
# reference numbers and the like from being taken for cards.
_NETWORKS: tuple[tuple[str, Callable[[str], bool], frozenset[int]], ...] = (
    ("visa", lambda d: d[0] == "4", frozenset({13, 16, 19})),
    ("amex", lambda d: d[:2] in {"34", "37"}, frozenset({15})),
    ("mastercard", lambda d: "51" <= d[:2] <= "55" or "2221" <= d[:4] <= "2720", frozenset({16})),
    (
        "discover_unionpay",
        lambda d: d.startswith(("6011", "65", "62")) or "644" <= d[:3] <= "649",
        frozenset({16, 17, 18, 19}),
    ),
    ("jcb", lambda d: "3528" <= d[:4] <= "3589", frozenset({16, 17, 18, 19})),
    ("diners", lambda d: d[:2] in {"36", "38", "39"} or "300" <= d[:3] <= "305", frozenset(range(14, 20))),
    ("maestro", lambda d: d[:2] in {"50", "56", "57", "58", "63", "67"}, frozenset(range(13, 20))),
)


def _card_network(d: str) -> str:
    for name, prefix, lengths in _NETWORKS:
        if prefix(d) and len(d) in lengths:
            return name
    return ""


_IBAN_HEAD_BEFORE = re.compile(r"[A-Z]{2}\d{2}[ -]?$")


def _cards(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _CARD.finditer(text):
        raw = m.group(0)
        digits = re.sub(r"\D", "", raw)
        if not 13 <= len(digits) <= 19:
            continue
        seps = set(re.findall(r"[ -]", raw))
        if len(seps) > 1:
            continue  # "4111 1111-1111 1111" style mixes are phone/reference numbers, not cards
        network = _card_network(digits)
        if _IBAN_HEAD_BEFORE.search(text, max(0, m.start() - 6), m.start()):
            continue  # the tail of an (invalid) IBAN
        if network and luhn_ok(digits):
            yield m.start(), m.end(), network


_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_BARE = re.compile(
    r"\b(?:SSN|social\s+security(?:\s+(?:number|no\.?|#))?)(?:\s+(?:is|was|of))?\s*[:#]?\s*(\d{3})(\d{2})(\d{4})\b",
    re.I,
)
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])"
    r"( ?)(\d{2})\2(\d{2})\2(\d{2})\2([A-D])(?![A-Za-z0-9])"
)
_DNI = re.compile(r"(?<![\w-])(?:\d{8}|[XYZ]\d{7})-?[A-Z](?![\w-])")
_NIR = re.compile(r"(?<![\w])[1-478] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w])")
_CF = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z]"
    r"[0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])"
)
_BSN = re.compile(
    r"\b(?:BSN|burgerservicenummer|sofi-?nummer)(?:\s*(?:nr\.?|nummer|number|no\.?))?\s*[:#]?\s*"
    r"(\d{4}\.?\d{2}\.?\d{3}|\d{9})\b",
    re.I,
)


def _national_ids(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _SSN.finditer(text):
        if ssn_ok(m.group(1), m.group(3), m.group(4)):
            yield m.start(), m.end(), "us_ssn"
    for m in _SSN_BARE.finditer(text):
        if ssn_ok(m.group(1), m.group(2), m.group(3)):
            yield m.start(1), m.end(3), "us_ssn"
    for m in _NINO.finditer(text):
        yield m.start(), m.end(), "uk_nino"
    for m in _DNI.finditer(text):
        if dni_ok(m.group(0)):
            yield m.start(), m.end(), "es_dni"
    for m in _NIR.finditer(text):
        if nir_ok(m.group(0)):
            yield m.start(), m.end(), "fr_nir"
    for m in _CF.finditer(text):
        if codice_fiscale_ok(m.group(0)):
            yield m.start(), m.end(), "it_codice_fiscale"
    for m in _BSN.finditer(text):
        if bsn_ok(m.group(1).replace(".", "")):
            yield m.start(1), m.end(1), "nl_bsn"


_PHONE_KEYWORD = re.compile(
    r"(?:\b(?:tel|tél|phone|telephone|téléphone|telefon|teléfono|telefono|mobile|mobil|cell|handy|móvil|"
    r"portable|fax|call|ring|whatsapp|contact|hotline|number|nummer|numéro|número)\b\.?|☎|📞)"
    r"[^\n\d+(]{0,20}$",
    re.I,
)
# International: +CC or 00CC, then 6-14 more digits with optional separators / parentheses.
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .\-/]?\(?\d{1,5}\)?){2,7}(?![\w])")
_PHONE_INTL_COMPACT = re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\w)")
# NANP: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671 (area/exchange first digit 2-9).
_PHONE_NANP = re.compile(
    r"(?<![\w\-./])(?:\+?1[ .\-]?)?(?:\(([2-9]\d\d)\)\s?|([2-9]\d\d)([ .\-]))([2-9]\d\d)[ .\-](\d{4})"
    r"(?![\w\-]|[./]\d)"
)
# National numbers with a trunk 0: 030 1234567, 030/123 4567, 0171-1234567, 020 7946 0958, 06-12345678.
_PHONE_TRUNK = re.compile(r"(?<![\w\-./])\(?0[1-9]\d{0,3}\)?(?:[ \-/.]\d{2,8}){1,4}(?![\w]|[\-./]\d)")
# French pairs: 01 23 45 67 89 / 01.23.45.67.89
_PHONE_FR = re.compile(r"(?<![\w\-./])0[1-9](?:([ .])\d{2})(?:\1\d{2}){3}(?![\w]|[\-./]\d)")
# Loose digits group only accepted right after a phone keyword.
_PHONE_LOOSE = re.compile(r"(?<![\w])\(?\d[\d ()./\-]{5,18}\d(?![\w])")

_DATEISH = re.compile(
    r"^(?:\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}|\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|(?:19|20)\d{2}\s*[\-/]\s*(?:19|20)?\d{2})$"
)
_NOT_PHONE_PREFIX = re.compile(
    r"(?:\b(?:ISBN|ISSN|DOI|No|Nr|Ref|Invoice|Inv|Order|Case|Docket|Account|Acct|Art|Sec|pp?|page|pages|"
    r"Seite|Rechnung|Bestell|Kunden|Auftrag|Aktenzeichen|facture|commande|factura|pedido|IBAN|BIC|ZIP|"
    r"Serial|SN|Part|P/N|OMB|Form|Ticket|Tracking|Customer|Member|Policy|Contract|Vertrag|Dossier)\b\.?"
    r"(?:\s+(?:number|no\.?|nr\.?|nummer|numéro|número|id|ref\.?|#))?|[#§])[\s:#-]*$",
    re.I,
)


_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")


def _phone_digits_ok(s: str, lo: int, hi: int) -> bool:
    n = sum(c.isdigit() for c in s)
    return lo <= n <= hi


def _phones(text: str) -> Iterable[tuple[int, int, str]]:
    seen: list[tuple[int, int]] = []

    def add(start: int, end: int, detail: str) -> Iterable[tuple[int, int, str]]:
        if any(start < e and s < end for s, e in seen):
            return
        seen.append((start, end))
        yield start, end, detail

    def left(start: int) -> str:
        return text[max(0, start - 40) : start]

    def glued(start: int) -> bool:
        # "1 84 05 76 ..." : a digit group right before means this is the tail of a longer number.
        return bool(re.search(r"\d[ .\-]$", text[max(0, start - 2) : start]))

    for m in _PHONE_INTL_COMPACT.finditer(text):
        yield from add(m.start(), m.end(), "intl")
    for m in _PHONE_INTL.finditer(text):
        s = m.group(0).rstrip(" .-/")
        if s.startswith("00") and glued(m.start()):
            continue
        if _phone_digits_ok(s, 8, 15) and not _DATEISH.match(s):
            yield from add(m.start(), m.start() + len(s), "intl")
    for m in _PHONE_NANP.finditer(text):
        if not _NOT_PHONE_PREFIX.search(left(m.start())):
            yield from add(m.start(), m.end(), "nanp")
    for m in _PHONE_FR.finditer(text):
        if not _NOT_PHONE_PREFIX.search(left(m.start())) and not glued(m.start()):
            yield from add(m.start(), m.end(), "fr")
    for m in _PHONE_TRUNK.finditer(text):
        s = m.group(0)
        if not _phone_digits_ok(s, 9, 13) or _DATEISH.match(s):
            continue
        groups = re.split(r"[ \-/.()]+", s.strip("()"))
        if len(groups[0]) < 2 or any(len(g) < 2 for g in groups[1:] if g):
            continue
        if _NOT_PHONE_PREFIX.search(left(m.start())) or glued(m.start()) or _SSN_SHAPE.match(s):
            continue
        yield from add(m.start(), m.end(), "national")
    for m in _PHONE_LOOSE.finditer(text):
        s = m.group(0)
        if not _phone_digits_ok(s, 7, 15) or _DATEISH.match(s.strip()):
            continue
        if _SSN_SHAPE.match(s) or glued(m.start()):
            continue
        if _PHONE_KEYWORD.search(left(m.start())) and not _NOT_PHONE_PREFIX.search(left(m.start())):
            yield from add(m.start(), m.end(), "keyword")


# Order is priority when spans overlap: the most specific, checksum-validated kinds first.
_DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("email", _emails),
    ("iban", _ibans),
    ("card", _cards),
    ("national_id", _national_ids),
    ("phone", _phones),
)


def find_pii(text: str, *, kinds: set[str] | frozenset[str] | None = None) -> list[PiiFinding]:
    """Return non-overlapping PII findings in ``text`` (sorted by start).

    Raises ValueError for an unknown kind. Overlaps are resolved by detector priority (email,
    iban, card, national_id, phone), then by longer span.
    """
    wanted = PII_KINDS if kinds is None else frozenset(kinds)
    unknown = wanted - PII_KINDS
    if unknown:
        raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
    taken: list[PiiFinding] = []
    # Every detector runs even when its kind is not wanted, so that e.g. the digits of an IBAN are
    # never redacted as a phone number when only phones are requested.
    for kind, detector in _DETECTORS:
        cands = sorted(detector(text), key=lambda c: (c[0], -(c[1] - c[0])))
        for start, end, detail in cands:
            if any(start < f.end and f.start < end for f in taken):
                continue
            taken.append(PiiFinding(kind=kind, start=start, end=end, detail=detail))
    return sorted((f for f in taken if f.kind in wanted), key=lambda f: f.start)


def redact_pii(text: str, *, kinds: set[str] | frozenset[str] | None = None) -> RedactionResult:
    """Replace each PII finding with its token (``[EMAIL]``, ``[PHONE]``, ``[CARD]``, ``[IBAN]``,
    ``[NATIONAL_ID]``). ``findings`` carry offsets into the ORIGINAL text."""
    findings = find_pii(text, kinds=kinds)
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(_TOKENS[f.kind])
        pos = f.end
    parts.append(text[pos:])
    return RedactionResult(text="".join(parts), findings=findings)
