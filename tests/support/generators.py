"""Deterministic ANAC-like OCDS: compiled releases as JSON Lines, one procedure per line.

    python -m tests.support.generators --tenders 100000 --out base.jsonl
    python -m tests.support.generators --tenders 100000 --out changed.jsonl --change-fraction 0.1
    python -m tests.support.generators --bytes 1G --out big.jsonl

Lines imitate ANAC's compiled releases (../shared/data/ocds/it_anac_compiled_releases_*.jsonl):
ocid prefix `ocds-hu01ve`, tag ["compiled"], 1-3 lots per procedure whose ids are CIGs (7 digits
+ 3 hex), CPV items per lot, the buyer and payer as parties, for most procedures an award per lot
(supplier, value, date) and sometimes a contract. A "tender" is one lot (one `tenders` row);
they average about 2 KB of JSON each.

Every procedure is drawn from its own random stream (seed, procedure number), so a file is the
same bytes for the same arguments, and a changed variant (`--change-fraction`) differs from the
base only in the procedures it changes: their `date` moves one day later and either their
deadline or a lot's amount moves. Lines are written as they are made, so `--bytes 1G` runs in
constant memory.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

DEFAULT_SEED = 20240601
OCID_PREFIX = "ocds-hu01ve"
FIRST_PROCEDURE = 6_000_000
# CIG = 7 digits + 3 hex. The digits are a bijection of the lot's number (odd multiplier,
# coprime with 10), so every lot of every file made with one seed has its own CIG.
_CIG_DIGITS = 10_000_000
_CIG_MULTIPLIER = 7_919

_EPOCH = datetime(2018, 1, 1, 12, tzinfo=UTC)
_RELEASES_FROM = datetime(2022, 1, 3, 12, tzinfo=UTC)

_METHODS = (
    ("1", "PROCEDURA APERTA"),
    ("2", "PROCEDURA RISTRETTA"),
    ("4", "PROCEDURA NEGOZIATA SENZA PREVIA PUBBLICAZIONE"),
    ("6", "PROCEDURA NEGOZIATA SENZA PREVIA INDIZIONE DI GARA (SETTORI SPECIALI)"),
    ("24", "AFFIDAMENTO DIRETTO"),
    ("27", "AFFIDAMENTO DIRETTO IN ADESIONE AD ACCORDO QUADRO/CONVENZIONE"),
    ("34", "PROCEDURA NEGOZIATA PER AFFIDAMENTI SOTTO SOGLIA"),
    ("114", "PROCEDURA NEGOZIATA DERIVANTE DA AVVISI CON CUI SI INDICE UNA GARA"),
)
_CPV = (
    ("44221310-1", "CANCELLI DI ACCESSO", "works"),
    ("45233141-9", "LAVORI DI MANUTENZIONE STRADALE", "works"),
    ("45454000-4", "LAVORI DI RISTRUTTURAZIONE", "works"),
    ("45331000-6", "LAVORI DI INSTALLAZIONE DI IMPIANTI DI RISCALDAMENTO", "works"),
    ("90510000-5", "TRATTAMENTO E SMALTIMENTO DEI RIFIUTI", "services"),
    ("90911200-8", "SERVIZI DI PULIZIA DI EDIFICI", "services"),
    ("55524000-9", "SERVIZI DI RISTORAZIONE SCOLASTICA", "services"),
    ("50750000-7", "SERVIZI DI MANUTENZIONE DI ASCENSORI", "services"),
    ("71322000-1", "SERVIZI DI PROGETTAZIONE TECNICA", "services"),
    ("72267000-4", "SERVIZI DI MANUTENZIONE E RIPARAZIONE DI SOFTWARE", "services"),
    ("65310000-9", "EROGAZIONE DI ENERGIA ELETTRICA", "goods"),
    ("09134100-8", "GASOLIO", "goods"),
    ("33600000-6", "PRODOTTI FARMACEUTICI", "goods"),
    ("33141000-0", "MATERIALI MEDICI NON DUREVOLI", "goods"),
    ("30192000-1", "FORNITURE PER UFFICIO", "goods"),
    ("34144900-7", "VEICOLI ELETTRICI", "goods"),
)
_ACTIONS = {
    "works": ("LAVORI DI", "INTERVENTI DI", "OPERE DI"),
    "services": ("SERVIZIO DI", "AFFIDAMENTO DEL SERVIZIO DI", "SERVIZI DI"),
    "goods": ("FORNITURA DI", "ACQUISTO DI", "FORNITURA IN ACCORDO QUADRO DI"),
}
_OBJECTS = (
    "MANUTENZIONE ORDINARIA E STRAORDINARIA",
    "ADEGUAMENTO NORMATIVO",
    "RIQUALIFICAZIONE ENERGETICA",
    "PULIZIA E SANIFICAZIONE",
    "GESTIONE E CONDUZIONE",
    "RIPRISTINO E MESSA IN SICUREZZA",
    "NOLEGGIO CON CONDUCENTE",
    "ASSISTENZA TECNICA E REPERIBILITÀ",
    "PROGETTAZIONE ESECUTIVA E DIREZIONE LAVORI",
)
_PLACES = (
    "DEGLI EDIFICI SCOLASTICI COMUNALI",
    "DELLA SEDE CENTRALE E DEGLI UFFICI PERIFERICI",
    "DEI PRESIDI OSPEDALIERI DELL'AZIENDA",
    "DELLA RETE VIARIA PROVINCIALE",
    "DEGLI IMPIANTI SPORTIVI",
    "DEL CIMITERO COMUNALE",
    "DEGLI IMPIANTI DI ILLUMINAZIONE PUBBLICA",
)
_TAILS = (
    "PER IL PERIODO {y}-{y2}",
    "ANNO {y}",
    "SECONDO LA NORMATIVA VIGENTE (D.LGS. 50/2016)",
    "CON OPZIONE DI RINNOVO PER ULTERIORI 12 MESI",
    "LOTTO FUNZIONALE {n}",
    "",
)
_BUYER_KINDS = (
    "COMUNE DI",
    "AZIENDA SANITARIA LOCALE DI",
    "PROVINCIA DI",
    "UNIVERSITÀ DEGLI STUDI DI",
    "AZIENDA OSPEDALIERA DI",
    "ISTITUTO COMPRENSIVO STATALE DI",
)
_TOWNS = (
    "ROMA",
    "MILANO",
    "NAPOLI",
    "TORINO",
    "PALERMO",
    "GENOVA",
    "BOLOGNA",
    "FIRENZE",
    "BARI",
    "CATANIA",
    "VERONA",
    "PADOVA",
    "TRIESTE",
    "BRESCIA",
    "PARMA",
    "PERUGIA",
    "CAGLIARI",
    "GAIOLE IN CHIANTI",
    "SAN GIOVANNI ROTONDO",
    "CASTELNUOVO DI PORTO",
)
_OFFICES = ("UFFICIO FINANZIARIO", "DIREZIONE ACQUISTI", "SETTORE LAVORI PUBBLICI", "ECONOMATO")
_STREETS = ("VIA ROMA", "PIAZZA GARIBALDI", "VIA MAZZINI", "CORSO VITTORIO EMANUELE II")
_COMPANY_WORDS = (
    "EDIL",
    "SERVIZI",
    "TECNO",
    "ENERGIA",
    "AMBIENTE",
    "COSTRUZIONI",
    "IMPIANTI",
    "SISTEMI",
    "MEDICAL",
    "GLOBAL",
)
_COMPANY_FORMS = ("S.R.L.", "SPA", "S.R.L.S.", "SOC. COOP.", "S.N.C.")
_BUYERS = 3_000
_SUPPLIERS = 8_000


def _fiscal_code(rng: random.Random) -> str:
    return f"{rng.randrange(10**10, 10**11):011d}"


def _uuid(rng: random.Random) -> str:
    return "-".join(f"{rng.getrandbits(bits):0{bits // 4}X}" for bits in (32, 16, 16, 16, 48))


@lru_cache(maxsize=8)
def _buyers(seed: int) -> tuple[dict[str, Any], ...]:
    rng = random.Random(f"{seed}:buyers")
    buyers = []
    for _ in range(_BUYERS):
        town = rng.choice(_TOWNS)
        buyers.append(
            {
                "id": _fiscal_code(rng),
                "name": f"{rng.choice(_BUYER_KINDS)} {town}",
                "ausa": f"{rng.randrange(10**10):010d}",
                "town": town,
                "postal": f"{rng.randrange(10000, 99999)}",
                "street": f"{rng.choice(_STREETS)} {rng.randrange(1, 200)}",
            }
        )
    return tuple(buyers)


@lru_cache(maxsize=8)
def _suppliers(seed: int) -> tuple[tuple[str, str], ...]:
    rng = random.Random(f"{seed}:suppliers")
    return tuple(
        (
            _fiscal_code(rng),
            f"{rng.choice(_COMPANY_WORDS)}{rng.choice(_COMPANY_WORDS)} "
            f"{rng.choice(_TOWNS).split()[0]} {rng.choice(_COMPANY_FORMS)}",
        )
        for _ in range(_SUPPLIERS)
    )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _description(rng: random.Random, category: str, cpv_text: str, year: int, lot: int) -> str:
    tail = rng.choice(_TAILS).format(y=year, y2=year + 2, n=lot)
    text = (
        f"{rng.choice(_ACTIONS[category])} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)} - "
        f"{cpv_text} {tail}"
    )
    return text.strip() + " "  # ANAC's descriptions often end in a space


def cig(lot_number: int, rng: random.Random) -> str:
    digits = (lot_number * _CIG_MULTIPLIER + 1_234_567) % _CIG_DIGITS
    return f"{digits:07d}{rng.getrandbits(12):03X}"


@dataclass
class Procedure:
    line: bytes
    lots: int
    changed: bool


def make_procedure(
    seed: int, number: int, first_lot: int, *, lots: int | None = None, change: float = 0.0
) -> Procedure:
    """Procedure `number` (0-based) of a seed's stream, whose lots are numbered from
    `first_lot`. `lots` caps its lot count (to end a file on an exact number of tenders)."""
    rng = random.Random(f"{seed}:{number}")
    procedure = FIRST_PROCEDURE + number
    ocid = f"{OCID_PREFIX}-{procedure}"
    count = rng.choices((1, 2, 3), weights=(60, 25, 15))[0]
    if lots is not None:
        count = min(count, lots)
    code, method = rng.choice(_METHODS)
    cpv, cpv_text, category = rng.choice(_CPV)
    buyer = rng.choice(_buyers(seed))
    start = _EPOCH + timedelta(days=rng.randrange(0, 4 * 365))
    end = start + timedelta(days=rng.randrange(10, 61))
    date = _RELEASES_FROM + timedelta(days=rng.randrange(0, 330))
    awarded = rng.random() < 0.75
    with_contract = awarded and rng.random() < 0.4

    lot_objects: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    awards: list[dict[str, Any]] = []
    contracts: list[dict[str, Any]] = []
    suppliers: dict[str, str] = {}
    for index in range(count):
        lot_id = cig(first_lot + index, rng)
        if index and rng.random() < 0.5:
            cpv, cpv_text, category = rng.choice(_CPV)
        description = _description(rng, category, cpv_text, start.year, index + 1)
        amount = round(min(rng.lognormvariate(11.0, 1.4), 5e8), 2)
        value = {"amount": amount, "currency": "EUR"}
        item = {
            "classification": {
                "description": cpv_text,
                "id": cpv,
                "scheme": "CPV",
                "uri": f"https://dati.anticorruzione.it/data/cpv/{cpv}",
            },
            "description": description,
            "id": lot_id,
            "relatedLot": lot_id,
            "unit": {"value": value},
        }
        items.append(item)
        lot_objects.append(
            {"description": description, "id": lot_id, "status": "active", "value": value}
        )
        if not awarded:
            continue
        supplier_id, supplier_name = rng.choice(_suppliers(seed))
        suppliers[supplier_id] = supplier_name
        award_id = str(1_000_000 + (first_lot + index) * 3 % 9_000_000)
        award_date = end + timedelta(days=rng.randrange(5, 90))
        awards.append(
            {
                "date": _stamp(award_date),
                "id": award_id,
                "items": [item],
                "relatedLots": [lot_id],
                "status": "active",
                "suppliers": [{"id": supplier_id, "name": supplier_name}],
                "value": {"amount": round(amount * rng.uniform(0.7, 1.0), 2), "currency": "EUR"},
            }
        )
        if with_contract:
            signed = award_date + timedelta(days=rng.randrange(5, 60))
            contracts.append(
                {
                    "awardID": award_id,
                    "dateSigned": _stamp(signed),
                    "id": award_id,
                    "items": [item],
                    "period": {
                        "endDate": _stamp(signed + timedelta(days=rng.randrange(90, 1100))),
                        "startDate": _stamp(signed),
                    },
                }
            )

    payer = rng.choice(_OFFICES)
    parties: list[dict[str, Any]] = [
        {
            "additionalIdentifiers": [
                {"id": buyer["ausa"], "legalName": buyer["name"], "scheme": "AUSA"}
            ],
            "address": {
                "countryName": "ITALY",
                "locality": buyer["town"],
                "postalCode": buyer["postal"],
                "streetAddress": buyer["street"],
            },
            "id": buyer["id"],
            "identifier": {"id": buyer["id"], "legalName": buyer["name"], "scheme": "IT-CF"},
            "name": buyer["name"],
            "roles": ["buyer"],
        },
        *(
            {
                "id": supplier_id,
                "identifier": {"id": supplier_id, "legalName": name, "scheme": "IT-CF"},
                "name": name,
                "roles": ["supplier"],
            }
            for supplier_id, name in suppliers.items()
        ),
    ]
    payer_id = _uuid(rng)
    parties.append(
        {
            "address": {"locality": buyer["town"], "postalCode": buyer["postal"]},
            "id": payer_id,
            "identifier": {"id": payer_id, "legalName": payer, "scheme": "internal"},
            "name": payer,
            "roles": ["payer"],
        }
    )
    tender: dict[str, Any] = {
        "description": lot_objects[0]["description"]
        if count == 1
        else f"{rng.choice(_ACTIONS[category])} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)} "
        f"- SUDDIVISO IN {count} LOTTI",
        "id": str(procedure),
        "items": items,
        "lots": lot_objects,
        "mainProcurementCategory": category,
        "procurementMethodDetails": f"COD:{code} ; TITLE:{method}",
        "tenderPeriod": {"endDate": _stamp(end), "startDate": _stamp(start)},
        "value": {
            "amount": round(sum(lot["value"]["amount"] for lot in lot_objects), 2),
            "currency": "EUR",
        },
    }

    # The change draw comes from its own stream, so the base content above never depends on it.
    changer = random.Random(f"{seed}:{number}:change")
    changed = change > 0 and changer.random() < change
    if changed:
        date += timedelta(days=1)
        if changer.random() < 0.5:
            moved = end + timedelta(days=changer.randrange(7, 31))
            tender["tenderPeriod"] = {**tender["tenderPeriod"], "endDate": _stamp(moved)}
        else:
            lot = lot_objects[changer.randrange(count)]
            new_amount = round(lot["value"]["amount"] * changer.uniform(1.05, 1.3), 2)
            lot["value"] = {"amount": new_amount, "currency": "EUR"}

    release: dict[str, Any] = {
        "buyer": {"id": buyer["id"], "name": buyer["name"]},
        "date": _stamp(date),
        "id": f"{ocid}-{_stamp(date)}",
        "initiationType": "tender",
        "language": "ita",
        "ocid": ocid,
        "parties": parties,
        "tag": ["compiled"],
        "tender": tender,
    }
    if awards:
        release["awards"] = awards
    if contracts:
        release["contracts"] = contracts
    line = orjson.dumps(release, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    return Procedure(line, count, changed)


@dataclass
class Generated:
    procedures: int = 0
    tenders: int = 0
    bytes: int = 0
    changed_procedures: int = 0
    changed_tenders: int = 0


def iter_lines(
    *,
    tenders: int | None = None,
    max_bytes: int | None = None,
    seed: int = DEFAULT_SEED,
    change_fraction: float = 0.0,
    stats: Generated | None = None,
) -> Iterator[bytes]:
    """Lines until `tenders` lots (exactly) or until `max_bytes` bytes (at least) are out."""
    if (tenders is None) == (max_bytes is None):
        raise ValueError("give either tenders or max_bytes")
    stats = stats if stats is not None else Generated()
    while True:
        if tenders is not None and stats.tenders >= tenders:
            return
        if max_bytes is not None and stats.bytes >= max_bytes:
            return
        left = tenders - stats.tenders if tenders is not None else None
        procedure = make_procedure(
            seed, stats.procedures, stats.tenders, lots=left, change=change_fraction
        )
        stats.procedures += 1
        stats.tenders += procedure.lots
        stats.bytes += len(procedure.line)
        if procedure.changed:
            stats.changed_procedures += 1
            stats.changed_tenders += procedure.lots
        yield procedure.line


def write(
    out: Path,
    *,
    tenders: int | None = None,
    max_bytes: int | None = None,
    seed: int = DEFAULT_SEED,
    change_fraction: float = 0.0,
) -> Generated:
    """Write the file (atomically: a partial file never has the final name)."""
    stats = Generated()
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb", buffering=1 << 20) as handle:
        for line in iter_lines(
            tenders=tenders,
            max_bytes=max_bytes,
            seed=seed,
            change_fraction=change_fraction,
            stats=stats,
        ):
            handle.write(line)
    partial.replace(out)
    return stats


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`1G`, `50M`, `512k`, `1000` (bytes; K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1G, 50M, 1000000)")
    unit = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**unit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.generators", description=__doc__.split("\n\n")[0]
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--tenders", type=int, help="exactly this many tenders (lots)")
    size.add_argument("--bytes", type=parse_size, help="at least this size, e.g. 1G")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--change-fraction",
        type=float,
        default=0.0,
        help="fraction of procedures changed against the same seed's base (e.g. 0.1)",
    )
    args = parser.parse_args(argv)
    stats = write(
        args.out,
        tenders=args.tenders,
        max_bytes=args.bytes,
        seed=args.seed,
        change_fraction=args.change_fraction,
    )
    print(
        f"{args.out}: {stats.tenders} tenders in {stats.procedures} procedures, "
        f"{stats.bytes / 1e6:.1f} MB ({stats.bytes / max(stats.tenders, 1):.0f} B per tender), "
        f"{stats.changed_tenders} tenders changed",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
