# ruff: noqa: RUF001  (dash/quote look-alikes are matched on purpose)
"""What kind of value a question asks for, and whether a sentence states one.

Used by the extractive answerer (issue 11, item 4): a "how many / when / who" question is only
answered by a sentence holding a value of that type, and a sentence that is a bare heading, a
code fragment or a fragment of a sentence is never quoted as an answer.

Invariants: pure functions of their text arguments; deterministic; no I/O.
"""

from __future__ import annotations

import re

from documents.lexical import language

__all__ = [
    "NUMBER_WORDS",
    "QTYPES",
    "answers_yes_no",
    "has_value",
    "is_code",
    "is_quotable",
    "period_mismatch",
    "question_type",
]

QTYPES = ("yes_no", "date", "number", "identifier", "person", "place", "other")

_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|does|do|did|can|could|has|have|had|will|would|should|must|may|"
    r"ist|sind|war|waren|gibt|kann|können|muss|hat|haben|wird|darf|é|há|pode)\b",
    re.IGNORECASE,
)
_WAS = re.compile(r"\s*was\b", re.IGNORECASE)
_DATE_Q = re.compile(
    r"^\s*(?:when|wann|quando|cuándo)\b|\b(?:what|which|on\s+what|in\s+what|on\s+which|in\s+which)\s+"
    r"(?:[\w-]+\s+){0,2}(?:date|day|year|month)(?![\w-])|\bin\s+welchem\s+jahr\b|\ban\s+welchem\s+(?:tag|datum)\b|"
    r"\bwelches\s+datum\b|\bem\s+que\s+(?:data|ano|dia)\b|\bwhat\s+is\s+the\s+(?:date|deadline)\b",
    re.IGNORECASE,
)
_NUMBER_Q = re.compile(
    r"\bhow\s+(?:many|much|long|old|far|big|large|often)\b|\bwhat\s+(?:percentage|percent|amount|number|"
    r"share|rate|total|fee|price|cost|sum)\b|\bwie\s+(?:viele?|lange|hoch|groß|gross)\b|\bwieviele?\b|"
    r"\bquant[oa]s?\b|\bcu[aá]nt[oa]s?\b|\bcombien\b|\bwhat(?:[’']s|\s+(?:was|is|were|are))\s+(?:the|his|her|its|their|"
    r"your|my)\s+(?:[\w-]+\s+){0,2}(?:total|number|"
    r"amount|count|percentage|maximum|minimum|fine|penalty|rate|cost|price|fee|population|area|elevation|"
    r"height|length|width|depth|weight|distance|temperature|age|salary|wage|income|speed|duration|"
    r"capacity|size|score|balance)\b|^\s*(?:what|which)\s+(?:[\w-]+\s+){1,3}(?:amount|rate|percentage|fee|price|cost|"
    r"fine|penalty|salary|wage)\b",
    re.IGNORECASE,
)
_PERSON_Q = re.compile(
    r"^\s*(?:who|whom|wer|quem|quién)\b|^\s*von\s+wem\b|\bwhose\s+name\b|"
    r"^\s*what\s+(?:is|was|were|are)\s+the\s+names?\s+of\b",
    re.IGNORECASE,
)

_MONTHS = (
    r"jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|apr(?:il)?|may|mai|june?|juni|july?|juli|"
    r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|okt(?:ober)?|nov(?:ember)?|dec(?:ember)?|dez(?:ember)?|"
    r"janeiro|fevereiro|março|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro"
)
_DATE_VALUE = re.compile(
    rf"\b(?:{_MONTHS})\b\.?\s*\d{{1,4}}|\b\d{{1,2}}\.?\s*(?:{_MONTHS})\b|\b(?:1[5-9]|20)\d\d\b|"
    r"\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b\d{4}-\d\d-\d\d\b|"
    r"\b\d{1,2}(?::\d\d)?\s*(?:a\.?m\b\.?|p\.?m\b\.?|uhr\b|o'clock)|\b\d{1,2}:\d\d\b|"
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|noon|midnight)s?\b",
    re.IGNORECASE,
)
# Numbers written as words ("thirteen dollars a month", "fünf Jahre", "três membros").
NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|thousand|million|billion|dozen|eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|"
    r"elf|zwölf|zwanzig|dreißig|hundert|tausend|dois|duas|três|quatro|cinco|seis|sete|oito|nove|dez|"
    r"onze|doze|treze|quinze|vinte|trinta|cem|mil"
)
# A time relative to an event ("24 months after the date of enactment", "within 10 business days of").
_RELATIVE_TIME = re.compile(
    rf"\b(?:\d+|{NUMBER_WORDS})\s+(?:(?:business|calendar|working)\s+)?(?:days?|weeks?|months?|years?)\s+"
    rf"(?:after|before|from|following|prior\s+to)\b|\bwithin\s+(?:\d+|{NUMBER_WORDS})\s+(?:(?:business|calendar|"
    r"working)\s+)?(?:days?|weeks?|months?|years?)\b",
    re.IGNORECASE,
)
_NUMBER_VALUE = re.compile(
    rf"(?<![\w.])[$€£]?\d[\d,.\u00a0\u202f]*%?|\b(?:{NUMBER_WORDS})\b",
    re.IGNORECASE,
)
# "section 1201", "page 24", "Form 1040": numbers that name things rather than answer "how many".
_REFERENCE_BEFORE = re.compile(
    r"\b(?:sections?|§+|articles?|titles?|parts?|pages?|chapters?|rules?|lines?|forms?|schedules?|"
    r"appendix|table|figure|fig\.|no\.|pub\.\s*l\.)\s*(?:\d[\w.-]*\s*(?:,|or|and|to|-)\s*)?$",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"(?<![\w])[A-ZÀ-Ý][a-zà-ÿ'’-]+(?:\s+(?:[A-Z]\.\s*)?[A-ZÀ-Ý][a-zà-ÿ'’-]+)+|"
    r"(?<![\w])[A-Z]{3,}\s+[A-Z][a-z]{2,}\b"  # surname first, in capitals ("YAMASHITA Makoto")
)
# "entirely exempted from criminal liability", "sem fins lucrativos" (without profit) deny too.
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|cannot|neither|nor|without|exempt(?:ed)?\s+from|nicht|kein\w*|nie|ohne|"
    r"não|nunca|sem)\b|n't\b",
    re.IGNORECASE,
)
# Code keywords only where code puts them (a line's start, a call): "A return for the 2007
# calendar year is due ..." and "import duties" are prose.
_CODE = re.compile(
    r"^\s*(?:\$ |>>> |#!|```|[{}\[\]]\s*$)|[{};]\s*$|^\s*(?:def|import|return|curl|pip|from\s+[\w.]+\s+import)\s|"
    r"\bdef\s+\w+\(|\breturn\s+[\w.]+\(.*\)\s*$"
)
_WORD = re.compile(r"[^\W\d_]{2,}")
# "Where do estates and trusts file?", "What is Linn Electronics' street address?" (not "what
# condition does the directive address?"), "In which city was ... heard?": a place name or an
# address answers.
_PLACE_Q = re.compile(
    r"^\s*(?:where|wo|onde|dónde)\b|\b(?:street|postal|mailing|office)\s+address\b|\baddress\s+of\b|"
    r"^\s*(?:(?:in|at|from|to)\s+)?(?:which|what)\s+(?:city|town|village|country|county|state|province|region|"
    r"place|location|venue)\b|^\s*(?:in|aus)\s+welche[mr]\s+(?:stadt|ort|land|gebäude)\b",
    re.IGNORECASE,
)
_PLACE_WORD = re.compile(r"(?<![\w])[A-ZÀ-Ý][\w’'-]+")


# "What is the docket number of Knowles v. Mirzayance?", "What OMB number is printed on the
# form?", "What number can taxpayers overseas call?": a number that names something, not a count.
_IDENTIFIER_Q = re.compile(
    r"\b(?:phone|telephone|fax|docket|case|file|form|omb|control|law|serial|model|part|account|"
    r"reference|registration|tracking|identification|routing|patent|licen[cs]e|catalog(?:ue)?|"
    r"order|invoice|flight|version|release|zip|postal|id|ein|ssn|tin)\s+(?:number|no\.?|code)\b|"
    r"\b(?:what|which)\s+(?:number|no\.?)\s+(?:can|do|does|should|must|to|is|are)\b[^?]*\b(?:call|dial|phone|fax|ring)\b",
    re.IGNORECASE,
)
# How such a number is written: digit groups joined by hyphens or slashes ("07-1315",
# "1545-0074", "215-516-2000", "105-304"), or after "No." ("No. 5").
_IDENTIFIER_VALUE = re.compile(r"(?<![\w/-])\d+(?:[-‐‑–/]\d+)+(?![\w/-])|\b[Nn]o\.\s?\d+(?:[-‐‑–/]\d+)*(?![\w/-])")
_DATE_IN_FIGURES = re.compile(r"^\d{1,2}[-/]\d{1,2}[-/](?:\d{2}|\d{4})$|^\d{4}-\d\d-\d\d$|^\d{1,2}/\d{4}$")


def _identifiers(text: str) -> list[str]:
    return [m.group(0) for m in _IDENTIFIER_VALUE.finditer(text) if not _DATE_IN_FIGURES.match(m.group(0))]


def _new_identifiers(sentence: str, question: str) -> set[str]:
    """The identifiers ``sentence`` states that the question does not already hold."""
    asked = set(_identifiers(question))
    return {v for v in _identifiers(sentence) if v not in asked}


def question_type(question: str) -> str:
    """One of :data:`QTYPES`: what the answer sentence must hold."""
    if _IDENTIFIER_Q.search(question):
        return "identifier"
    if _DATE_Q.search(question):
        return "date"
    if _NUMBER_Q.search(question):
        return "number"
    if _PERSON_Q.search(question):
        return "person"
    if _PLACE_Q.search(question):
        return "place"
    if _YES_NO.search(question) and not (_WAS.match(question) and language(question) == "de"):
        return "yes_no"  # (German "Was bedeutet ...?" asks "what", not "was it ...?")
    return "other"


# Questions about a sum of money, and how a sum is written ("$156,400", "€24,960", "R$ 50",
# "500 dollars").
_MONEY_Q = re.compile(
    r"\b(?:fines?|fees?|prices?|costs?|salary|salaries|wages?|earns?|earned|earning|money|"
    r"geldbu(?:ß|ss)e|gebühr(?:en)?|preis|kosten|gehalt|lohn|geld|multa|taxa|preço|custo|salário|dinheiro)\b",
    re.IGNORECASE,
)
_CURRENCY = r"(?:dollars?|euros?|cents?|pounds?|usd|eur|gbp|reais|€)(?![a-z])"  # after the figure
_CURRENCY_SIGN = r"(?:[$€£]|\b(?:r\$|us\$|eur|usd))"  # before it
_CURRENCY_AFTER = re.compile(rf"\s*{_CURRENCY}", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(rf"{_CURRENCY_SIGN}\s?$", re.IGNORECASE)
_MONEY_VALUE = re.compile(rf"{_CURRENCY_SIGN}\s?\d|(?:\d[\d,.]*|\b(?:{NUMBER_WORDS}))\s*{_CURRENCY}", re.IGNORECASE)


def _is_money(text: str, start: int, end: int) -> bool:
    """Is the number at ``text[start:end]`` written as a sum of money ("$5", "EUR 5", "5 euros")?"""
    return (
        text[start : start + 1] in ("$", "€", "£")
        or bool(_CURRENCY_BEFORE.search(text[max(0, start - 5) : start]))
        or bool(_CURRENCY_AFTER.match(text, end))
    )


# A list or form item's own number ("7. Is the amount on line 6 ...", "(3) Enter ..."): it
# numbers the sentence, it is not a value the sentence states.
_ENUMERATOR = re.compile(r"\s*\(?(\d{1,3})(?:\.\s|\)\s)")


def _is_enumerator(text: str, start: int) -> bool:
    m = _ENUMERATOR.match(text)
    return bool(m) and m.start(1) == start


# A name never starts with an article: "Das Skript", "The Department", "O Conselho" are not people.
_ARTICLE = re.compile(
    r"(?:the|a|an|this|these|those|der|die|das|dem|den|des|ein|eine|einen|dieses|diese|o|os|as|um|uma|"
    r"el|la|los|las|le|les|un|une)\s+",
    re.IGNORECASE,
)
# ... nor is a document part's name one: "Artigo Décimo Quinto", "Chapter Three", "Section Two".
_PART = re.compile(
    r"(?:article|artikel|artigo|chapter|kapitel|capítulo|section|abschnitt|secção|seção|part|teil|parte|"
    r"title|titel|título|appendix|anhang|anexo|table|tabelle|tabela|figure|abbildung)\s",
    re.IGNORECASE,
)


def _names(sentence: str) -> list[str]:
    """Runs of two or more capitalised words ("Martin Thoma", "Steven E. Mercer"), less a leading
    article; a run that is only an article and one word is no name."""
    out = []
    for m in _NAME.finditer(sentence):
        name = m.group(0)
        if _PART.match(name):
            continue
        article = _ARTICLE.match(name)
        if article:
            name = name[article.end() :]
            if not _NAME.fullmatch(name):
                continue
        out.append(name)
    return out


def _values(pattern: re.Pattern[str], text: str, exclude: set[str]) -> list[str]:
    out = []
    for m in pattern.finditer(text):
        v = m.group(0).strip().lower().rstrip(".,")
        if not v or v in exclude:
            continue
        if pattern is _NUMBER_VALUE and (
            _REFERENCE_BEFORE.search(text, max(0, m.start() - 24), m.start()) or _is_enumerator(text, m.start())
        ):
            continue
        out.append(v)
    return out


def has_value(qtype: str, sentence: str, question: str) -> bool:
    """Does ``sentence`` state a value of ``qtype`` that the question does not already hold?"""
    if qtype in ("yes_no", "other"):
        return True
    if qtype == "date":
        exclude = {v.strip().lower().rstrip(".,") for v in _DATE_VALUE.findall(question)}
        # "When is the study due?" -> "24 months after the date of enactment": a deadline
        # relative to an event is when.
        return bool(_values(_DATE_VALUE, sentence, exclude)) or bool(_RELATIVE_TIME.search(sentence))
    if qtype == "identifier":
        return bool(_new_identifiers(sentence, question))
    if qtype == "number":
        if _MONEY_Q.search(question) and not _MONEY_VALUE.search(sentence):
            return False  # "what fine / how much does she earn": a sum of money, not "six"
        exclude = {m.group(0).strip().lower().rstrip(".,") for m in _NUMBER_VALUE.finditer(question)}
        return bool(_values(_NUMBER_VALUE, sentence, exclude))
    q_words = {w.lower() for w in _WORD.findall(question)}
    if qtype == "place":
        # a capitalised word past the sentence's first that the question does not hold ("Cincinnati",
        # "Vale do Lobo", "Oxnard Street")
        return any(m.start() > 0 and m.group(0).lower() not in q_words for m in _PLACE_WORD.finditer(sentence))
    return any(any(w.lower() not in q_words for w in _WORD.findall(name)) for name in _names(sentence))


_FULL_DATE = re.compile(
    rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+(?:1[5-9]|20)\d\d\b|\b\d{{1,2}}\.?\s+(?:{_MONTHS})\.?\s+(?:1[5-9]|20)\d\d\b|"
    r"\b\d{4}-\d\d-\d\d\b",
    re.IGNORECASE,
)


_IDENTIFIER_JOIN = "-\u2010\u2011\u2012\u2013\u2014/"


def _part_of_identifier(text: str, start: int, end: int) -> bool:
    """ "2018" in "AD 2018-23-51", "737" in "737-8": a number joined to more digits is a name."""
    after = text[end : end + 2]
    before = text[max(0, start - 2) : start]
    return (len(after) == 2 and after[0] in _IDENTIFIER_JOIN and after[1].isdigit()) or (
        len(before) == 2 and before[1] in _IDENTIFIER_JOIN and before[0].isdigit()
    )


def sole_value(qtype: str, sentence: str, question: str) -> str:
    """The one value of the asked type that ``sentence`` states and the question does not ("June
    16, 2008", "$248,200", "Steven E. Mercer"), as written; "" when there is none or more than
    one (then only the whole sentence answers, and picking one would be a guess)."""
    if qtype == "date":
        q = {v.lower() for v in _FULL_DATE.findall(question)}
        found = {m.group(0) for m in _FULL_DATE.finditer(sentence) if m.group(0).lower() not in q}
        if not found:
            q = {v.strip().lower().rstrip(".,") for v in _DATE_VALUE.findall(question)}
            found = {
                m.group(0).strip().rstrip(".,")
                for m in _DATE_VALUE.finditer(sentence)
                if not _part_of_identifier(sentence, m.start(), m.end())
            }
            found = {v for v in found if v.lower() not in q}
    elif qtype == "identifier":
        found = _new_identifiers(sentence, question)
    elif qtype == "number":
        q = {m.group(0).strip().lower().rstrip(".,") for m in _NUMBER_VALUE.finditer(question)}
        money = bool(_MONEY_Q.search(question))
        found = set()
        for m in _NUMBER_VALUE.finditer(sentence):
            v = m.group(0).strip().rstrip(".,")
            if (
                v
                and v.lower() not in q
                and not _REFERENCE_BEFORE.search(sentence, max(0, m.start() - 24), m.start())
                and not _part_of_identifier(sentence, m.start(), m.end())
                and not _is_enumerator(sentence, m.start())
                and (not money or _is_money(sentence, m.start(), m.end()))
            ):
                found.add(v)
    elif qtype == "person":
        q_words = {w.lower() for w in _WORD.findall(question)}
        found = {name for name in _names(sentence) if all(w.lower() not in q_words for w in _WORD.findall(name))}
    else:
        return ""
    return next(iter(found)) if len(found) == 1 else ""


def answers_yes_no(question: str, sentence: str) -> str:
    """ "Yes" or "No" for a yes/no question answered by ``sentence``: a negation the question
    does not carry reads as No (a heuristic; the cited sentence is shown right after it)."""
    german = bool(re.match(r"\s*(?:ist|sind|war|waren|gibt|kann|können|muss|hat|haben|wird|darf)\b", question, re.I))
    neg = bool(_NEGATION.search(sentence)) and not _NEGATION.search(question)
    if german:
        return "Nein" if neg else "Ja"
    return "No" if neg else "Yes"


def is_code(sentence: str) -> bool:
    """A line of code or a shell command rather than prose."""
    s = sentence.strip()
    return bool(_CODE.search(s)) or s.count("`") >= 2


def is_quotable(sentence: str, *, is_row: bool) -> bool:
    """A sentence fit to be quoted as (part of) an answer: not a bare heading, not a code
    fragment, not a fragment of a sentence cut from its start."""
    s = sentence.strip()
    if is_row:
        # At least two cells with content ("MICHAEL A. KNOWLES, | :" is a ruled line, not a row).
        cells = [c for c in re.split(r"\s*\|\s*|\t|:\s", s) if any(ch.isalnum() for ch in c)]
        return bool(_WORD.findall(s)) and len(cells) >= 2
    if _CODE.search(s) or s.count("`") >= 2 or s.startswith(("#", "|", "-- ", "//")):
        return False
    words = _WORD.findall(s)
    if len(words) < 3:
        return False
    first = s.lstrip("\"'“‘([•*-–— ")[:1]
    if first and first.islower() and not s[:1].isdigit():
        return False  # "roll back." / "rollout past ..." : the tail of a sentence from elsewhere
    if s[-1] in '.!?;)"”’':
        return True
    # No closing punctuation: a heading ("API token scopes", "NICS Firearm Checks: November 2015")
    # unless it reads as a long line of prose.
    # (German capitalises every noun: its prose runs to 60-70% capitalised words)
    capitalised = sum(w[0].isupper() for w in words) / len(words)
    return len(words) >= 8 and capitalised < (0.75 if language(s) == "de" else 0.5)


# The period a rate is stated for: "earning €24,960 per annum" does not answer "how much does
# she earn per hour?".
_RATE_PERIODS: dict[str, re.Pattern[str]] = {
    period: re.compile(pattern, re.IGNORECASE)
    for period, pattern in {
        "hour": r"\b(?:per|an|a|each|every)\s+hour\b|\bhourly\b|\bpro\s+stunde\b|\bstündlich\b|\bpor\s+hora\b",
        "day": r"\b(?:per|a|each|every)\s+day\b|\bdaily\b|\bpro\s+tag\b|\btäglich\b|\bpor\s+dia\b",
        "week": r"\b(?:per|a|each|every)\s+week\b|\bweekly\b|\bpro\s+woche\b|\bwöchentlich\b|\bpor\s+semana\b",
        "month": r"\b(?:per|a|each|every)\s+month\b|\bmonthly\b|\bpro\s+monat\b|\bmonatlich\b|\bpor\s+m[eê]s\b|"
        r"\bmensal\b",
        "year": r"\b(?:per|a|each|every)\s+year\b|\bper\s+annum\b|\bp\.\s?a\.|\bannual(?:ly)?\b|\byearly\b|"
        r"\bpro\s+jahr\b|\bjährlich\b|\bpor\s+ano\b|\banual\b",
    }.items()
}


def _periods(text: str) -> set[str]:
    return {period for period, pattern in _RATE_PERIODS.items() if pattern.search(text)}


def period_mismatch(question: str, sentence: str) -> str:
    """The period ``sentence`` states a rate for when the question asks for another one ("year"
    for a question asking "per hour"); "" when they agree or either states none."""
    asked, stated = _periods(question), _periods(sentence)
    if not asked or not stated or asked & stated:
        return ""
    return sorted(stated)[0]
