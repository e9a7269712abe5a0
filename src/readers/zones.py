"""The time zone a publisher's local dates are in, from the buyer's country.

A date without an offset is local time where it was published: ANAC's are Italian, others'
are the buyer's country's. Countries spanning several zones use their capital's (DESIGN.md);
an unknown country means UTC. Keys are ISO 3166 alpha-2 and alpha-3 codes (eForms writes
alpha-3, OCDS addresses alpha-2 or a name) and the English and local names OCDS publishers
write in `address.countryName`."""

from __future__ import annotations

import unicodedata
from datetime import UTC, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

# alpha-2, alpha-3, zone (the capital's where the country has several), names as published
_COUNTRIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("AD", "AND", "Europe/Andorra", ("andorra",)),
    ("AL", "ALB", "Europe/Tirane", ("albania", "shqiperia")),
    ("AM", "ARM", "Asia/Yerevan", ("armenia", "hayastan")),
    ("AR", "ARG", "America/Argentina/Buenos_Aires", ("argentina",)),
    ("AT", "AUT", "Europe/Vienna", ("austria", "osterreich")),
    ("AU", "AUS", "Australia/Sydney", ("australia",)),
    ("BA", "BIH", "Europe/Sarajevo", ("bosnia and herzegovina",)),
    ("BE", "BEL", "Europe/Brussels", ("belgium", "belgique", "belgie")),
    ("BG", "BGR", "Europe/Sofia", ("bulgaria",)),
    ("BO", "BOL", "America/La_Paz", ("bolivia",)),
    ("BR", "BRA", "America/Sao_Paulo", ("brazil", "brasil")),
    ("CA", "CAN", "America/Toronto", ("canada",)),
    ("CH", "CHE", "Europe/Zurich", ("switzerland", "schweiz", "suisse", "svizzera")),
    ("CL", "CHL", "America/Santiago", ("chile",)),
    ("CO", "COL", "America/Bogota", ("colombia",)),
    ("CR", "CRI", "America/Costa_Rica", ("costa rica",)),
    ("CY", "CYP", "Asia/Nicosia", ("cyprus",)),
    ("CZ", "CZE", "Europe/Prague", ("czechia", "czech republic", "cesko")),
    ("DE", "DEU", "Europe/Berlin", ("germany", "deutschland")),
    ("DK", "DNK", "Europe/Copenhagen", ("denmark", "danmark")),
    ("DO", "DOM", "America/Santo_Domingo", ("dominican republic", "republica dominicana")),
    ("EC", "ECU", "America/Guayaquil", ("ecuador",)),
    ("EE", "EST", "Europe/Tallinn", ("estonia", "eesti")),
    ("ES", "ESP", "Europe/Madrid", ("spain", "espana")),
    ("FI", "FIN", "Europe/Helsinki", ("finland", "suomi")),
    ("FR", "FRA", "Europe/Paris", ("france",)),
    ("GB", "GBR", "Europe/London", ("united kingdom", "uk", "great britain", "england")),
    ("GE", "GEO", "Asia/Tbilisi", ("georgia",)),
    ("GR", "GRC", "Europe/Athens", ("greece", "hellas")),
    ("GT", "GTM", "America/Guatemala", ("guatemala",)),
    ("HN", "HND", "America/Tegucigalpa", ("honduras",)),
    ("HR", "HRV", "Europe/Zagreb", ("croatia", "hrvatska")),
    ("HU", "HUN", "Europe/Budapest", ("hungary", "magyarorszag")),
    ("IE", "IRL", "Europe/Dublin", ("ireland", "eire")),
    ("IN", "IND", "Asia/Kolkata", ("india",)),
    ("IS", "ISL", "Atlantic/Reykjavik", ("iceland", "island")),
    ("IT", "ITA", "Europe/Rome", ("italy", "italia")),
    ("KE", "KEN", "Africa/Nairobi", ("kenya",)),
    ("KG", "KGZ", "Asia/Bishkek", ("kyrgyzstan",)),
    ("KZ", "KAZ", "Asia/Almaty", ("kazakhstan",)),
    ("LI", "LIE", "Europe/Vaduz", ("liechtenstein",)),
    ("LT", "LTU", "Europe/Vilnius", ("lithuania", "lietuva")),
    ("LU", "LUX", "Europe/Luxembourg", ("luxembourg",)),
    ("LV", "LVA", "Europe/Riga", ("latvia", "latvija")),
    ("MD", "MDA", "Europe/Chisinau", ("moldova", "republic of moldova", "republica moldova")),
    ("ME", "MNE", "Europe/Podgorica", ("montenegro",)),
    ("MK", "MKD", "Europe/Skopje", ("north macedonia",)),
    ("MN", "MNG", "Asia/Ulaanbaatar", ("mongolia",)),
    ("MT", "MLT", "Europe/Malta", ("malta",)),
    ("MX", "MEX", "America/Mexico_City", ("mexico",)),
    ("NG", "NGA", "Africa/Lagos", ("nigeria",)),
    ("NL", "NLD", "Europe/Amsterdam", ("netherlands", "nederland")),
    ("NO", "NOR", "Europe/Oslo", ("norway", "norge")),
    ("NP", "NPL", "Asia/Kathmandu", ("nepal",)),
    ("NZ", "NZL", "Pacific/Auckland", ("new zealand",)),
    ("PA", "PAN", "America/Panama", ("panama",)),
    ("PE", "PER", "America/Lima", ("peru",)),
    ("PH", "PHL", "Asia/Manila", ("philippines",)),
    ("PL", "POL", "Europe/Warsaw", ("poland", "polska")),
    ("PT", "PRT", "Europe/Lisbon", ("portugal",)),
    ("PY", "PRY", "America/Asuncion", ("paraguay",)),
    ("RO", "ROU", "Europe/Bucharest", ("romania",)),
    ("RS", "SRB", "Europe/Belgrade", ("serbia", "srbija")),
    ("SE", "SWE", "Europe/Stockholm", ("sweden", "sverige")),
    ("SI", "SVN", "Europe/Ljubljana", ("slovenia", "slovenija")),
    ("SK", "SVK", "Europe/Bratislava", ("slovakia", "slovensko")),
    ("SV", "SLV", "America/El_Salvador", ("el salvador",)),
    ("TZ", "TZA", "Africa/Dar_es_Salaam", ("tanzania",)),
    ("UA", "UKR", "Europe/Kyiv", ("ukraine", "украина", "україна")),
    ("UG", "UGA", "Africa/Kampala", ("uganda",)),
    ("US", "USA", "America/New_York", ("united states", "united states of america", "usa")),
    ("UY", "URY", "America/Montevideo", ("uruguay",)),
    ("ZA", "ZAF", "Africa/Johannesburg", ("south africa",)),
    ("ZM", "ZMB", "Africa/Lusaka", ("zambia",)),
)


def _folded(text: str) -> str:
    """Lower case without accents or surrounding space: `México` -> `mexico`."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for alpha2, alpha3, zone, names in _COUNTRIES:
        for key in (alpha2, alpha3, *names):
            index[_folded(key)] = zone
    return index


def country_zone(country: object) -> tzinfo | None:
    """The zone of a country given as an alpha-2 or alpha-3 code or a name; None when unknown."""
    if not isinstance(country, str) or not country.strip():
        return None
    zone = _index().get(_folded(country))
    return None if zone is None else ZoneInfo(zone)


def zone_or_utc(*countries: object) -> tzinfo:
    """The zone of the first known of `countries` (the buyer's first), else UTC."""
    for country in countries:
        zone = country_zone(country)
        if zone is not None:
            return zone
    return UTC
