"""NUTS codes (Eurostat's Nomenclature of Territorial Units for Statistics): the place of
performance a tender is filtered by (`tenders.nuts`, a watch's NUTS prefix).

A code is a NUTS country (ISO alpha-2, but EL for Greece and UK for the United Kingdom) and
up to three levels, one character each: `IT`, `ITC`, `ITC4`, `ITC4C`. Sources write it in
fields that also hold names ("Roma", "Genova", "ITALIA" in ANAC's PVL; "DF", "MEX" in Mexican
OCDS regions), so a value is a code only when it is shaped like one: a NUTS country, then a
first level that is a digit or one of the letters that country uses (DE, FR, IT, TR, UK use
letters), and after a letter a digit. That refuses "ROMA" (Romania's first level is a digit),
"ITA" and "FRA" (ISO alpha-3 codes), "DF" and "MEX", while every code of the 2021 and 2024
classifications passes.

An extra-regio code (only Z after the country: `ITZ`, `ITZZ`, `ITZZZ`) is how eForms says "no
region given": it is not a place, and the next place is taken, or none. `LU000` (Luxembourg
has one region at each level) is a real code and kept as published.

A value that is not a code is simply not one: None, without a field warning. A place written
as a name is still a place, only not a code, so warning about it would flag most of ANAC's
and many OCDS publishers' records for nothing. Nothing longer than five characters is a code,
so no value beyond the column's ten characters ever reaches a record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SHAPE = re.compile(r"[A-Z]{2}[0-9A-Z]{0,3}")
# The letters a country's first level may be (a digit always may): DE1..DEG, FR1 and
# FRB..FRM, FRY; ITC..ITI; TR1..TRC; UKC..UKN. Other countries number their first level.
_FIRST_LEVEL_LETTERS = {
    "DE": frozenset("ABCDEFG"),
    "FR": frozenset("BCDEFGHIJKLMY"),
    "IT": frozenset("CDEFGHI"),
    "TR": frozenset("ABC"),
    "UK": frozenset("CDEFGHIJKLMN"),
}
_NO_LETTERS: frozenset[str] = frozenset()
# The EU's members (Greece as EL), the United Kingdom, the EFTA countries and the candidate
# countries with statistical regions; GR is Greece in codes before 2010.
# fmt: off
NUTS_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    "UK", "CH", "IS", "LI", "NO", "AL", "ME", "MK", "RS", "TR", "GR",
})
# fmt: on


def nuts_code(value: object) -> str | None:
    """The NUTS code `value` is (trimmed, upper case), or None: not text, not shaped like a
    code, or an extra-regio code (no region given)."""
    if not isinstance(value, str):
        return None
    code = value.strip()
    if not 2 <= len(code) <= 5:  # most names end here, cheaply
        return None
    code = code.upper()
    if _SHAPE.fullmatch(code) is None or code[:2] not in NUTS_COUNTRIES:
        return None
    levels = code[2:]
    if not levels:
        return code
    if levels.strip("Z") == "":
        return None  # extra-regio: no region given
    first = levels[0]
    if first.isdigit():
        return code
    if first not in _FIRST_LEVEL_LETTERS.get(code[:2], _NO_LETTERS):
        return None
    return code if len(levels) == 1 or levels[1].isdigit() else None


def first_nuts(values: Iterable[object]) -> str | None:
    """The first of `values` that is a NUTS code (extra-regio codes skipped)."""
    for value in values:
        code = nuts_code(value)
        if code is not None:
            return code
    return None
