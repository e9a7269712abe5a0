"""The publication formats the product reads: one vocabulary for readers, the CLI, the API
and the run rows."""

from __future__ import annotations

import enum


class Format(enum.StrEnum):
    OCDS = "ocds"
    ANAC_CSV = "anac_csv"
    ANAC_JSON = "anac_json"
    ANAC_PVL = "anac_pvl"
    EFORMS = "eforms"

    @classmethod
    def parse(cls, value: str | None) -> Format | None:
        """None stays None (detect from the bytes); anything unknown is a ValueError that
        lists the known names."""
        if value is None or isinstance(value, Format):
            return value
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown format {value!r}; known: {known}") from None
