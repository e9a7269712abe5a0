"""Sources the tests generate: ANAC-like OCDS JSON Lines of a chosen size and version."""

from __future__ import annotations

import json
from pathlib import Path


def anac_source(path: Path, procedures: int, *, version: int = 1, first: int = 0) -> int:
    """ANAC-like compiled releases as JSON Lines, two lots each (~1 KB a tender); `version`
    moves the source date and the amounts. Returns the number of tenders."""
    with path.open("w") as out:
        for index in range(first, first + procedures):
            lots = [
                {
                    "id": f"{1000000 + index:07d}{lot:03X}",
                    "status": "active",
                    "description": f"Lotto {lot + 1}: " + "manutenzione ordinaria " * 20,
                    "value": {"amount": 1000 * (lot + 1) + version, "currency": "EUR"},
                }
                for lot in range(2)
            ]
            out.write(
                json.dumps(
                    {
                        "ocid": f"ocds-hu01ve-{index}",
                        "id": f"r{index}-{version}",
                        "date": f"2025-{version:02d}-01T00:00:00Z",
                        "tag": ["compiled"],
                        "buyer": {"id": "80015010723", "name": "COMUNE DI PROVA"},
                        "tender": {
                            "id": str(index),
                            "description": f"Servizio numero {index}",
                            "lots": lots,
                            "tenderPeriod": {"endDate": f"2026-{version:02d}-15T12:00:00Z"},
                        },
                    }
                )
                + "\n"
            )
    return procedures * 2
