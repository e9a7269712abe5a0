"""1,000 watches as bid teams write them, for the alerts case of the benchmark: CPV
prefixes of 3 to 5 digits over the whole classification (a few in the sectors of the
generated data), most with words, some with an amount floor or a place, and some of words only."""

from __future__ import annotations

import random
from typing import Any

# Divisions and groups of the CPV classification; the generated data uses a handful.
_CPV_DIVISIONS = (
    *("03", "09", "14", "15", "16", "18", "19", "22", "24", "30", "31", "32", "33", "34"),
    *("35", "37", "38", "39", "41", "42", "43", "44", "45", "48", "50", "51", "55", "60"),
    *("63", "64", "65", "66", "70", "71", "72", "73", "75", "76", "77", "79", "80", "85"),
    *("90", "92", "98"),
)
_WORDS = (
    *("mensa", "scolastica", "manutenzione", "stradale", "pulizia", "edifici", "rifiuti"),
    *("ascensori", "software", "progettazione", "energia", "gasolio", "farmaci", "veicoli"),
    *("elettrici", "riscaldamento", "ristrutturazione", "illuminazione", "verde", "pubblico"),
    *("trasporto", "scolastico", "vigilanza", "assicurazione", "formazione", "consulenza"),
    *("informatica", "arredi", "scuola", "ponte", "fognatura", "acquedotto"),
)
_NUTS = ("ITC4", "ITC45", "ITI4", "ITI43", "ITH3", "ITF3", "ITG1", "ITG12", "ITH5", "ITC1")


def watch_specs(count: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """`count` WatchSpec arguments (webhook targets filled in by the caller)."""
    rng = random.Random(seed)
    specs = []
    for number in range(count):
        spec: dict[str, Any] = {"name": f"watch-{number:04d}", "events": ["new", "changed"]}
        shape = rng.random()
        if shape < 0.85:
            spec["cpv"] = [
                rng.choice(_CPV_DIVISIONS) + "".join(rng.choices("0123456789", k=rng.randint(1, 3)))
                for _ in range(rng.randint(1, 3))
            ]
        elif shape < 0.92:
            spec["nuts"] = [rng.choice(_NUTS)]
        if rng.random() < 0.7 or shape >= 0.92:  # a watch of words only has two
            spec["words"] = " ".join(rng.sample(_WORDS, 2 if shape >= 0.92 else rng.randint(1, 2)))
        if rng.random() < 0.25:
            spec["amount_min"] = rng.choice((40_000, 100_000, 500_000, 1_000_000))
        specs.append(spec)
    return specs
