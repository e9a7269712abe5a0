"""ANAC's compiled releases of the usual shape take a path of their own (`anac_compiled`): it
must give exactly the records the general mapping gives, or leave the release to it. Compared
record for record (every value, the fields set, the content hash) on generated releases, on
one change at a time to each part of a release, and on ANAC's own sample."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from src.domain.tender.schemas import DocumentDigest, RejectedRecord, TenderRecord
from src.readers import ocds_awards
from src.readers.anac_compiled import map_anac_compiled
from src.readers.items import ReadItem, UnmappedDocument
from src.readers.ocds import map_document
from src.readers.ocds_mapping import map_release
from src.readers.ocds_walk import storable_json
from tests.support import generators
from tests.support.paths import require_shared_data

Release = dict[str, Any]


def _seen(item: ReadItem) -> object:
    """What a reader's item is, to compare: a record's every value and the fields set."""
    if isinstance(item, TenderRecord):
        return ("record", item.__dict__, item.__pydantic_fields_set__, item.content_hash())
    assert isinstance(item, RejectedRecord)
    return ("rejected", item.reason, item.position, item.snippet)


def _general(release: Release, raw_json: str | None) -> list[object]:
    items = map_release(
        release, source_url="https://x.test/a", position="line 7", raw_json=raw_json
    )
    return [_seen(item) for item in items]


def _fast(release: Release, raw_json: str | None) -> list[object] | None:
    records = map_anac_compiled(
        release, source_url="https://x.test/a", position="line 7", raw_json=raw_json
    )
    return None if records is None else [_seen(record) for record in records]


def _compare(release: Release) -> bool:
    """Whether the ANAC path answered; when it did, its records are the general mapping's
    (with the release's text stored, and with the object kept instead)."""
    answered = False
    for raw_json in (orjson.dumps(release).decode(), None):
        fast = _fast(copy.deepcopy(release), raw_json)
        if fast is not None:
            assert fast == _general(copy.deepcopy(release), raw_json)
            answered = True
    return answered


def _generated(count: int, seed: int = 7) -> list[Release]:
    return [
        orjson.loads(line)
        for line in itertools.islice(generators.iter_lines(tenders=count * 3, seed=seed), count)
    ]


def test_generated_releases_take_the_anac_path_and_map_as_the_general_mapping() -> None:
    releases = _generated(600)
    answered = [_compare(release) for release in releases]
    assert all(answered), f"{answered.count(False)} of {len(releases)} left to the general path"


def test_map_document_gives_the_general_mapping_s_items() -> None:

    for release in _generated(50, seed=11):
        line = orjson.dumps(release)
        document = UnmappedDocument(
            DocumentDigest("anac", "ocds", release["ocid"], "d" * 64),
            release,
            "line 3",
            "https://x.test/b",
            storable_json(line),
        )
        expected = map_release(
            release, source_url="https://x.test/b", position="line 3", raw_json=storable_json(line)
        )
        assert [_seen(i) for i in map_document(document)] == [_seen(i) for i in expected]


def test_anac_s_own_sample_maps_as_the_general_mapping() -> None:
    path = require_shared_data("ocds", "it_anac_compiled_releases_2022_sample.jsonl")
    releases = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    answered = [_compare(release) for release in releases]
    # One of the 32 has two buyers (joint procurement): the general mapping's case.
    assert answered.count(True) >= len(releases) - 1


def _first(release: Release, *path: str | int) -> Any:
    value: Any = release
    for step in path:
        value = value[step]
    return value


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[Release], None]:
    def change(release: Release) -> None:
        _first(release, *path[:-1])[path[-1]] = value

    return change


def _drop(path: tuple[str | int, ...]) -> Callable[[Release], None]:
    def change(release: Release) -> None:
        _first(release, *path[:-1]).pop(path[-1], None)

    return change


def _joint_buyer(release: Release) -> None:
    release["parties"].append({"id": "X1", "name": "ALTRO ENTE", "roles": ["buyer"]})


def _second_award(release: Release) -> None:
    award = copy.deepcopy(release["awards"][0])
    award["id"], award["date"] = "2", "2019-01-01T12:00:00Z"
    award["suppliers"] = [{"id": "S2", "name": "SECONDA SRL"}]
    release["awards"].append(award)


def _two_suppliers(release: Release) -> None:
    release["awards"][0]["suppliers"].append({"id": "S9", "name": "TERZA SPA"})


_LOT = ("tender", "lots", 0)
_ITEM = ("tender", "items", 0)
_AWARD = ("awards", 0)
# One change each: the ANAC path answers for some (the same records), leaves the others.
CHANGES: dict[str, Callable[[Release], object]] = {
    "lot title": _set((*_LOT, "title"), "Titolo del lotto"),
    "tender title": _set(("tender", "title"), "Titolo"),
    "tender status": _set(("tender", "status"), "cancelled"),
    "lot status unknown": _set((*_LOT, "status"), "sospeso"),
    "lot status withdrawn": _set((*_LOT, "status"), "withdrawn"),
    "lot id as a number": _set((*_LOT, "id"), 1234567890),
    "lot id lower case": _set((*_LOT, "id"), " 1234567abc "),
    "lot id not a CIG": _set((*_LOT, "id"), "ABC"),
    "lot without id": _drop((*_LOT, "id")),
    "no lots": _set(("tender", "lots"), []),
    "lots not a list": _set(("tender", "lots"), {"id": "1234567ABC"}),
    "lot description padded": _set((*_LOT, "description"), "  Lavori  \n"),
    "lot description empty": _set((*_LOT, "description"), " "),
    "lot description a number": _set((*_LOT, "description"), 12),
    "lot description a list": _set((*_LOT, "description"), ["a"]),
    "lot description written-out object": _set((*_LOT, "description"), "{'a': 1}"),
    "lot description with NUL": _set((*_LOT, "description"), "Lavori\x00 edili"),
    "descriptions missing": lambda r: (
        r["tender"]["lots"][0].pop("description", None),
        r["tender"].pop("description", None),
    ),
    "all text missing": lambda r: (
        r["tender"]["lots"][0].pop("description", None),
        r["tender"].pop("description", None),
        [item.pop("description", None) for item in r["tender"].get("items", [])],
    ),
    "lot amount as text": _set((*_LOT, "value", "amount"), "1.234,50"),
    "lot amount huge": _set((*_LOT, "value", "amount"), 1e20),
    "lot amount many decimals": _set((*_LOT, "value", "amount"), 10.123),
    "lot amount a bool": _set((*_LOT, "value", "amount"), True),
    "lot amount missing": _drop((*_LOT, "value", "amount")),
    "lot value missing": _drop((*_LOT, "value")),
    "lot value not an object": _set((*_LOT, "value"), 5),
    "lot currency lower case": _set((*_LOT, "value", "currency"), "eur"),
    "lot currency euro": _set((*_LOT, "value", "currency"), "EURO"),
    "tender value missing": _drop(("tender", "value")),
    "period missing": _drop(("tender", "tenderPeriod")),
    "start date missing": _drop(("tender", "tenderPeriod", "startDate")),
    "date published instead": lambda r: (
        r["tender"]["tenderPeriod"].pop("startDate", None),
        r["tender"].__setitem__("datePublished", "2024-02-03T12:00:00Z"),
    ),
    "end date unreadable": _set(("tender", "tenderPeriod", "endDate"), "31/02/2024"),
    "end date with a time": _set(("tender", "tenderPeriod", "endDate"), "2024-02-03T10:30:00"),
    "end date far": _set(("tender", "tenderPeriod", "endDate"), "9999-12-31T23:59:59-05:00"),
    "release date malformed": _set(("date",), "2025-01-08 17:31:38.793T12:00:00Z"),
    "release date unreadable": _set(("date",), "ieri"),
    "release without id": _drop(("id",)),
    "ocid padded": _set(("ocid",), " ocds-hu01ve-123 "),
    "ocid of another publisher": _set(("ocid",), "ocds-abcdef-123"),
    "ocid upper case": _set(("ocid",), "OCDS-HU01VE-123"),
    "procurement method": _set(("tender", "procurementMethod"), "open"),
    "method details not ANAC's": _set(("tender", "procurementMethodDetails"), "Aperta"),
    "planning": _set(("planning",), {"budget": {"description": "Bilancio"}}),
    "contract title": _set(("contracts",), [{"id": "c", "title": "Contratto"}]),
    "contracts not a list": _set(("contracts",), {"id": "c"}),
    "award title": _set((*_AWARD, "title"), "Aggiudicazione"),
    "award pending": _set((*_AWARD, "status"), "pending"),
    "award cancelled": _set((*_AWARD, "status"), "cancelled"),
    "award without status": _drop((*_AWARD, "status")),
    "award of no lot": _set((*_AWARD, "relatedLots"), []),
    "award lots not a list": _set((*_AWARD, "relatedLots"), "1234567ABC"),
    "award of an unknown lot": _set((*_AWARD, "relatedLots"), ["0000000AAA"]),
    "award date unreadable": _set((*_AWARD, "date"), "domani"),
    "award amount missing": _drop((*_AWARD, "value")),
    "award currency missing": _drop((*_AWARD, "value", "currency")),
    "award without suppliers": _drop((*_AWARD, "suppliers")),
    "award suppliers empty": _set((*_AWARD, "suppliers"), []),
    "supplier without name": _drop((*_AWARD, "suppliers", 0, "name")),
    "supplier unknown": _set((*_AWARD, "suppliers", 0, "id"), "nessuno"),
    "supplier with identifier": _set(
        (*_AWARD, "suppliers", 0, "identifier"), {"id": "IT1", "scheme": "IT-CF"}
    ),
    "second award": _second_award,
    "two suppliers": _two_suppliers,
    "joint buyer": _joint_buyer,
    "buyer without name": _drop(("buyer", "name")),
    "buyer name empty": _set(("buyer", "name"), ""),
    "buyer unknown": _set(("buyer", "id"), "nessuno"),
    "buyer missing": _drop(("buyer",)),
    "buyer id a number": _set(("buyer", "id"), 95276958484),
    "party id a number": _set(("parties", 0, "id"), 7),
    "party identifier missing": _drop(("parties", 0, "identifier")),
    "party identifier id a number": _set(("parties", 0, "identifier", "id"), 12345),
    "parties missing": _drop(("parties",)),
    "item of no lot": _drop((*_ITEM, "relatedLot")),
    "item delivery address": _set((*_ITEM, "deliveryAddresses"), [{"region": "ITC11"}]),
    "item not CPV": _set((*_ITEM, "classification", "scheme"), "CPVS"),
    "item CPV without check digit": _set((*_ITEM, "classification", "id"), "45000000"),
    "item CPV a list": _set((*_ITEM, "classification", "id"), ["45000000"]),
    "item CPV written-out": _set((*_ITEM, "classification", "id"), "[1, 2]"),
    "items missing": _drop(("tender", "items")),
    "tender delivery address": _set(("tender", "deliveryAddresses"), [{"region": "ITC11"}]),
    "main category only": lambda r: (
        r["tender"]["lots"][0].pop("description", None),
        r["tender"].pop("description", None),
        r["tender"].pop("items", None),
    ),
}


def _base(lots: int) -> Release:
    """A generated release with `lots` lots and an award of its first."""
    for release in _generated(200, seed=23):
        if len(release["tender"]["lots"]) == lots and release.get("awards"):
            return release
    raise AssertionError(f"no generated release with {lots} lots and an award")


@pytest.mark.parametrize("lots", [1, 3])
@pytest.mark.parametrize("name", sorted(CHANGES))
def test_one_change_maps_as_the_general_mapping(name: str, lots: int) -> None:
    release = _base(lots)
    try:
        CHANGES[name](release)
    except (KeyError, IndexError):
        pytest.skip(f"the generated release has nothing for {name!r} to change")
    _compare(release)


def test_the_anac_path_answers_for_the_changes_it_knows() -> None:
    """It is not the general mapping's copy: what it knows it maps; the rest it leaves."""
    answered = set()
    for name, change in CHANGES.items():
        release = _base(1)
        change(release)
        if _compare(release):
            answered.add(name)
    # What it maps itself: values it reads as the general mapping does, without a warning.
    assert answered == {
        *("all text missing", "descriptions missing", "main category only", "items missing"),
        *("award amount missing", "award currency missing", "award of an unknown lot"),
        *("award suppliers empty", "award without status", "award without suppliers"),
        *("second award", "two suppliers", "supplier unknown", "supplier without name"),
        *("buyer name empty", "buyer without name", "parties missing", "party identifier missing"),
        *("date published instead", "start date missing", "period missing"),
        *("end date with a time", "release date malformed"),
        *("item CPV without check digit", "item not CPV"),
        *("lot amount missing", "lot value missing", "lot value not an object"),
        *("tender value missing", "lot description empty", "lot description padded"),
        *("lot description with NUL", "lot id lower case"),
        *("lot status unknown", "lot status withdrawn"),
        *("method details not ANAC's", "procurement method"),
    }


def test_awards_that_name_every_lot_are_totalled_once_for_the_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each lot of a framework whose every award names every lot has every award: their
    columns are read once for the release, not once a lot (which cost 10 us a reference:
    a 6.6 MB release took 4 s), and are the general mapping's."""
    release = _base(1)
    lot, award = release["tender"]["lots"][0], release["awards"][0]
    cigs = [f"{1000000 + n:07d}ABC" for n in range(200)]
    release["tender"]["lots"] = [{**lot, "id": cig} for cig in cigs]
    release["tender"].pop("items", None)
    release["awards"] = [
        {**award, "id": str(n), "relatedLots": cigs, "value": {"amount": n, "currency": "EUR"}}
        for n in range(1, 11)
    ]
    totals = Counter[str]()
    combined, reading = ocds_awards._combined, ocds_awards._Reading.of

    def counted_total(readings: list[Any]) -> dict[str, Any]:
        totals["sets"] += 1
        return combined(readings)

    def counted_reading(award: Any, *args: Any) -> Any:
        totals["awards"] += 1
        return reading(award, *args)

    monkeypatch.setattr(ocds_awards, "_combined", counted_total)
    monkeypatch.setattr(ocds_awards._Reading, "of", counted_reading)
    records = map_anac_compiled(release, source_url=None, position=None, raw_json=None)
    assert records is not None and len(records) == len(cigs)
    assert {record.award_amount for record in records} == {sum(range(1, 11))}
    assert totals == {"sets": 1, "awards": 10}
    assert _compare(release)
