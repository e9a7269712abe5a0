"""The place of performance (`nuts`) in every reader: eForms places (lot, then procedure),
OCDS delivery addresses and locations (item, lot, tender), ANAC's LUOGO_NUTS and ISTAT codes,
PVL's luogo_nuts; hand-made fixtures and the real samples in ../shared/data."""

from __future__ import annotations

import ast
import copy
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from lxml import etree

from src.domain.tender.schemas import RejectedRecord, TenderRecord
from src.readers import ocds
from src.readers.anac_cig import read_cig_csv, read_cig_json
from src.readers.anac_pvl import read_pvl
from src.readers.eforms import NS, read_eforms
from src.readers.items import ReadItem
from src.readers.ocds_mapping import map_release
from tests.support.paths import FIXTURES, ROOT, require_shared_data


def records(items: list[ReadItem]) -> list[TenderRecord]:
    assert not [item for item in items if isinstance(item, RejectedRecord)]
    found = [item for item in items if isinstance(item, TenderRecord)]
    # a place written as a name, or no code at all, is never a warning
    assert [w for r in found for w in r.warnings if w.field == "nuts"] == []
    return found


def places(items: list[ReadItem], key: str = "lot_id") -> dict[Any, str | None]:
    return {getattr(record, key): record.nuts for record in records(items)}


# --- eForms -----------------------------------------------------------------------------------


def eforms(data: bytes) -> list[ReadItem]:
    return list(read_eforms(io.BytesIO(data)))


def test_eforms_lot_place_else_the_procedures() -> None:
    data = (FIXTURES / "eforms" / "cn_places_ita.xml").read_bytes()
    assert places(eforms(data)) == {
        "LOT-0001": "ITI43",  # ITZZZ ("not specified") skipped; the first real one, trimmed
        "LOT-0002": "ITC4C",  # no place of its own: the procedure's (its ITZZZ skipped)
        "LOT-0003": "ITC4C",  # only "not specified" in Italy: the procedure's
        "LOT-0004": None,  # anywhere in Austria: not the procedure's place in Italy
        "LOT-0005": "LU000",  # another list's code and a malformed one are no place
    }


def test_eforms_notice_without_lots_is_the_procedures_place() -> None:
    root = etree.fromstring((FIXTURES / "eforms" / "cn_places_ita.xml").read_bytes())
    for lot in root.findall("cac:ProcurementProjectLot", NS):
        root.remove(lot)
    assert places(eforms(etree.tostring(root))) == {None: "ITC4C"}


def test_eforms_sdk_examples() -> None:
    folder = require_shared_data("eforms")
    found = {path.name: places(eforms(path.read_bytes())) for path in sorted(folder.glob("*.xml"))}
    assert found.pop("can_25_ITA.xml") == {"LOT-0000": None}  # ITZZZ at both levels
    # its lot is "anywhere in the United Kingdom", the procedure in Provence (FRL04)
    assert found.pop("cn_81_FRA.xml") == {"LOT-0000": None}
    # LU000 is in an address in Luxembourg (postal code, city, country LUX)
    assert found.pop("cn_24_maximal.xml") == {"LOT-0001": "LU000", "LOT-0002": "LU000"}
    # the others name countries only (or no place); LU000 in their organisations' addresses
    # is where the buyer is, not where the contract is performed
    assert {place for lots in found.values() for place in lots.values()} == {None}


def test_eforms_lot_without_a_place_of_its_own_takes_the_procedures() -> None:
    root = etree.fromstring(require_shared_data("eforms", "cn_81_FRA.xml").read_bytes())
    project = root.find("cac:ProcurementProjectLot/cac:ProcurementProject", NS)
    assert project is not None
    for place in project.findall("cac:RealizedLocation", NS):
        project.remove(place)
    assert places(eforms(etree.tostring(root))) == {"LOT-0000": "FRL04"}


# --- OCDS -------------------------------------------------------------------------------------


def release(tender: dict[str, Any]) -> dict[str, Any]:
    return {"ocid": "ocds-test01-1", "id": "r1", "date": "2025-06-01T10:00:00Z",
            "tag": ["compiled"], "tender": {"id": "T1", "title": "Lavori", **tender}}  # fmt: skip


ITEMS: list[dict[str, Any]] = [
    {"id": "1", "relatedLot": "L1",
     "deliveryAddresses": [{"region": "Lombardia"}, {"region": " itc4c "}]},
    {"id": "2", "relatedLot": "L2", "deliveryAddress": {"region": "ITC11"},
     "deliveryLocations": [{"gazetteer": {"scheme": "NUTS", "identifiers": ["ITZZZ", "UKI32"]}}]},
    {"id": "3", "relatedLot": "L3", "deliveryAddress": {"region": "Kyiv oblast"}},
    {"id": "4", "deliveryLocation": {"gazetteer": {"scheme": "nuts", "identifiers": ["ITH10"]}}},
]  # fmt: skip
LOTS = [{"id": f"L{n}"} for n in (1, 2, 3, 4)]
NOWHERE: dict[str, Any] = {"source_url": None, "position": None}


def test_ocds_lot_place_from_its_items() -> None:
    found = places(list(map_release(release({"lots": LOTS, "items": ITEMS}), **NOWHERE)))
    assert found == {
        "L1": "ITC4C",  # a region that is a name is skipped, the next one is a code
        "L2": "UKI32",  # the NUTS gazetteer (ITZZZ skipped) before a region that looks like one
        "L3": "ITH10",  # its own items name no code: the items of no lot
        "L4": "ITH10",  # no items of its own
    }


def test_ocds_tender_level_place_when_the_items_have_none() -> None:
    tender = {"lots": LOTS, "items": ITEMS[:3], "deliveryAddresses": [{"region": "ITI43"}]}
    found = places(list(map_release(release(tender), **NOWHERE)))
    assert found == {"L1": "ITC4C", "L2": "UKI32", "L3": "ITI43", "L4": "ITI43"}


def test_ocds_release_without_lots_takes_the_first_item_with_a_code() -> None:
    items = [{"id": "0", "deliveryAddress": {"region": "DF"}}, *ITEMS[2:], ITEMS[0]]
    assert places(list(map_release(release({"items": items}), **NOWHERE))) == {None: "ITH10"}
    unplaced = [{"id": "0", "deliveryAddress": {"region": "MEX"}}, {"id": "1", "region": "X"}]
    assert places(list(map_release(release({"items": unplaced}), **NOWHERE))) == {None: None}


def test_ocds_odd_shapes_are_no_place() -> None:
    odd: list[Any] = [
        {"id": "1", "deliveryAddresses": "ITC4C"},
        {"id": "2", "deliveryAddresses": [None, 3, {"region": 45}]},
        {"id": "3", "deliveryLocations": [{"gazetteer": {"scheme": "NUTS", "identifiers": "X"}}]},
        {"id": "4", "deliveryLocation": {"gazetteer": {"scheme": "GEONAMES",
                                                        "identifiers": ["ITC4C"]}}},
        {"id": "5", "relatedLot": 7, "deliveryAddress": {"region": "ITC4C"}},
    ]  # fmt: skip
    assert places(list(map_release(release({"items": odd[:4]}), **NOWHERE))) == {None: None}
    # an item whose relatedLot is no lot id is still one of the release's items
    assert places(list(map_release(release({"items": odd}), **NOWHERE))) == {None: "ITC4C"}


def test_ocds_real_regions_are_names_not_codes() -> None:
    """ProZorro's delivery regions are oblast names: no place, no warning."""
    record = json.loads(require_shared_data("ocds", "ua_prozorro_record.json").read_text())
    compiled = record["compiledRelease"]
    regions = [i["deliveryAddress"]["region"] for i in compiled["tender"]["items"]]
    assert regions and all(region.endswith("область") for region in regions)
    assert set(places(list(map_release(compiled, **NOWHERE))).values()) == {None}


def test_the_ocds_mapping_version_covers_every_module_the_mapping_imports() -> None:
    """A change to any module `map_release` depends on (nuts.py with it) changes every
    stored compiled release's digest, so the next ingest maps them again."""
    covered = {module.__name__ for module in ocds.MAPPING_MODULES}
    assert "src.readers.nuts" in covered
    assert _imported_by("src.readers.ocds_mapping") <= covered


def _imported_by(name: str, seen: set[str] | None = None) -> set[str]:
    """The project's modules `name` imports, directly or not (itself included)."""
    seen = set() if seen is None else seen
    if name in seen:
        return seen
    seen.add(name)
    path = ROOT / Path(*name.split(".")).with_suffix(".py")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("src."):
            module = node.module or ""
            package_path = ROOT / Path(*module.split("."))
            if package_path.is_dir():  # `from src.readers import nuts, ...`
                for alias in node.names:
                    _imported_by(f"{module}.{alias.name}", seen)
            else:
                _imported_by(module, seen)
    return seen


# --- ANAC ---------------------------------------------------------------------------------------

BULK_CSV = """cig;numero_gara;oggetto_lotto;luogo_istat;provincia
9000001A0B;1;Lotto uno;083048;MESSINA
9000002B1C;1;Lotto due;83048;MESSINA
9000003C2D;1;Lotto tre;015146;MILANO
9000004D3E;1;Lotto quattro;015999;MILANO
9000005E4F;1;Lotto cinque;ROMA;ROMA
9000006F5A;1;Lotto sei;;
"""


def test_anac_bulk_csv_place_from_the_istat_municipality() -> None:
    items = list(read_cig_csv(io.BytesIO(BULK_CSV.encode())))
    assert places(items, "cig") == {
        "9000001A0B": "ITG13",
        "9000002B1C": "ITG13",  # ISTAT's numeric form
        "9000003C2D": "ITC4C",
        "9000004D3E": None,  # a code of a province split between regions, not listed
        "9000005E4F": None,
        "9000006F5A": None,
    }


def test_anac_detail_luogo_nuts_first_then_the_istat_code() -> None:
    details = [
        {"bando": {"CIG": "9000001A0B", "OGGETTO_LOTTO": "a", "LUOGO_NUTS": "ITF65",
                   "LUOGO_ISTAT": "083048"}},
        {"bando": {"CIG": "9000002B1C", "OGGETTO_LOTTO": "b", "LUOGO_ISTAT": "083048"}},
        {"bando": {"CIG": "9000003C2D", "OGGETTO_LOTTO": "c", "LUOGO_NUTS": "Messina",
                   "LUOGO_ISTAT": "083048"}},
        {"bando": {"CIG": "9000004D3E", "OGGETTO_LOTTO": "d", "LUOGO_NUTS": "ITG1"}},
    ]  # fmt: skip
    items = list(read_cig_json(io.BytesIO(json.dumps(details).encode())))
    expected = {"9000001A0B": "ITF65", "9000002B1C": "ITG13", "9000003C2D": "ITG13",
                "9000004D3E": "ITG1"}  # fmt: skip
    assert places(items, "cig") == expected
    flattened = (
        "bando_CIG,bando_OGGETTO_LOTTO,bando_LUOGO_NUTS,bando_LUOGO_ISTAT\n"
        "9000001A0B,a,ITF65,083048\n9000002B1C,b,,083048\n"
        "9000003C2D,c,Messina,083048\n9000004D3E,d,ITG1,\n"
    )
    assert places(list(read_cig_csv(io.BytesIO(flattened.encode()))), "cig") == expected


def test_anac_real_details() -> None:
    """The Messina CIGs: LUOGO_NUTS as published (NUTS 3 or 2), else Messina's ISTAT code."""
    expected = Counter({"ITG13": 33, "ITG1": 13, None: 10, "ITF6": 3, "ITF65": 1})
    path = require_shared_data("anac", "anac_cig_detail_messina_no_personal_data.json")
    with path.open("rb") as stream:
        assert Counter(places(list(read_cig_json(stream)), "cig").values()) == expected
    path = require_shared_data("anac", "anac_cig_detail_messina_flattened.csv")
    with path.open("rb") as stream:
        assert Counter(places(list(read_cig_csv(stream)), "cig").values()) == expected
    path = require_shared_data("anac", "anac_cig_detail_api_raw_918052266A.json")
    with path.open("rb") as stream:
        assert places(list(read_cig_json(stream)), "cig") == {"918052266A": "ITF6"}


def test_pvl_luogo_nuts_counts_only_as_a_code() -> None:
    wrapper = json.loads((FIXTURES / "anac" / "pvl_notices.json").read_text())
    notice = copy.deepcopy(wrapper["records"][0])
    lots = notice["template"][0]["template"]["sections"][2]["items"]
    lots[0] |= {"luogo_nuts": "itc33", "luogo_istat": "GENOVA"}
    lots[1] |= {"luogo_nuts": "Genova", "luogo_istat": "010025"}  # Genova's ISTAT code
    assert places(list(read_pvl(io.BytesIO(json.dumps(notice).encode()))), "cig") == {
        "9100001A01": "ITC33",
        "9100002B02": "ITC33",
    }
    lots[1] |= {"luogo_nuts": "ITALIA", "luogo_istat": "ESEMPIO"}
    found = places(list(read_pvl(io.BytesIO(json.dumps(notice).encode()))), "cig")
    assert found["9100002B02"] is None


def test_pvl_real_notices_name_places() -> None:
    """PVL's capture writes names ("Genova", "ITALIA", "GERMANIA"): no code, no warning."""
    path = require_shared_data("anac", "anac_pvl_notices_sample.json")
    with path.open("rb") as stream:
        assert set(places(list(read_pvl(stream)), "position").values()) == {None}
