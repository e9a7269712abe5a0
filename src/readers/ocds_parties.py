"""Organisations in an OCDS release: who buys (one buyer, or several in joint procurement),
how an organisation is identified, and so in which time zone the publisher's dates are.

An organisation's id (buyer_id, supplier_id) is `{identifier.scheme}-{identifier.id}` when
its identifier has both and the scheme is an org-id code (`GB-COH`, `UA-EDR`: how OCDS party
ids are usually built, and what every OCDS 1.0 publisher gives, having no party ids), else
the party `id`, else `identifier.id` alone. ANAC's identifier is the bare fiscal code, as
ANAC's other formats write it (they update the same rows)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from src.readers.common import ROME, is_object
from src.readers.ocds_values import obj, text_value
from src.readers.zones import zone_or_utc

# An org-id.guide list code: a country (or XI/XM) and the register's letters.
_SCHEME = re.compile(r"[A-Z]{2}-[A-Z0-9]+(?:-[A-Z0-9]+)*", re.IGNORECASE)
_JOIN = "; "
MAX_ID_CHARS = 100  # the id columns' size


def _text(value: object) -> str | None:
    try:
        return text_value(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Parties:
    """A release's parties by id: an organisation reference (`{id, name}`) reads as the party
    it names, with the reference's own fields first."""

    by_id: Mapping[str, Mapping[str, Any]]
    anac: bool

    @classmethod
    def of(cls, release: Mapping[str, Any], anac: bool) -> Parties:
        parties = release.get("parties")
        by_id: dict[str, Mapping[str, Any]] = {}
        for party in parties if isinstance(parties, list) else []:
            if is_object(party) and isinstance(party.get("id"), str | int):
                by_id.setdefault(str(party["id"]), party)
        return cls(by_id, anac)

    def resolve(self, reference: object) -> Mapping[str, Any]:
        reference = obj(reference)
        party = self.by_id.get(str(reference.get("id")), {}) if "id" in reference else {}
        return {**party, **{k: v for k, v in reference.items() if v not in (None, "", {})}}

    def org_id(self, organisation: Mapping[str, Any]) -> str | None:
        identifier = obj(organisation.get("identifier"))
        scheme, code = _text(identifier.get("scheme")), _text(identifier.get("id"))
        party_id = _text(organisation.get("id"))
        if self.anac:
            return code or party_id
        if code and scheme and _SCHEME.fullmatch(scheme):
            prefixed = code.upper().startswith(f"{scheme.upper()}-")
            return code if prefixed else f"{scheme}-{code}"
        return party_id or code

    def names_and_ids(
        self, organisations: list[Mapping[str, Any]]
    ) -> tuple[str | None, str | None]:
        """Distinct names joined with "; ", and distinct ids joined the same way (the first
        id alone when they do not fit the column)."""
        return names_and_ids_of([self.name_and_id(o) for o in organisations])

    def name_and_id(self, organisation: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """An organisation's name and id, as `names_and_ids` reads them."""
        return _text(organisation.get("name")), self.org_id(organisation)


def names_and_ids_of(
    found: list[tuple[str | None, str | None]],
) -> tuple[str | None, str | None]:
    """`Parties.names_and_ids` of organisations read already (`Parties.name_and_id`)."""
    if len(found) == 1:  # the common case, as the general one below gives it
        name, code = found[0]
        return name, code or ""
    return joined_names_and_ids(found)


def joined_names_and_ids(
    found: Iterable[tuple[str | None, str | None]],
) -> tuple[str | None, str | None]:
    """Organisations' (name, id): distinct names joined with "; ", and distinct ids joined the
    same way (the first id alone when they do not fit the column; "" when there is none)."""
    pairs = list(found)
    names = dict.fromkeys(name for name, _ in pairs if name)
    ids = list(dict.fromkeys(code for _, code in pairs if code))
    joined = _JOIN.join(ids)
    return _JOIN.join(names) or None, (joined if len(joined) <= MAX_ID_CHARS else ids[0])


def buyers(release: Mapping[str, Any], parties: Parties) -> list[Mapping[str, Any]]:
    """The buyers, lead first: `buyer`, then every other party with the role `buyer` (joint
    procurement). The procuring entity acts for a buyer and is not one: it stands in only
    when the release names no buyer at all (as some OCDS 1.0 publishers do)."""
    found = [parties.resolve(release["buyer"])] if is_object(release.get("buyer")) else []
    lead = str(found[0].get("id")) if found and found[0].get("id") is not None else None
    for party in parties.by_id.values():
        roles = party.get("roles")
        if isinstance(roles, list) and "buyer" in roles and str(party.get("id")) != lead:
            found.append(party)
    if not found:
        entity = obj(release.get("tender")).get("procuringEntity")
        if is_object(entity):
            found.append(parties.resolve(entity))
    return found


def _countries(organisations: list[Mapping[str, Any]]) -> Iterator[object]:
    for organisation in organisations:
        address = obj(organisation.get("address"))
        yield address.get("countryName")
        yield address.get("country")


def release_zone(release: Mapping[str, Any], parties: Parties) -> tzinfo:
    """Where the release's dates without an offset are local: Rome for ANAC, else the
    buyers' country (the lead's first), else the procuring entity's, else UTC."""
    if parties.anac:
        return ROME
    organisations = buyers(release, parties)
    entity = obj(release.get("tender")).get("procuringEntity")
    if is_object(entity):
        organisations.append(parties.resolve(entity))
    organisations.extend(
        party
        for party in parties.by_id.values()
        if isinstance(party.get("roles"), list) and "procuringEntity" in party["roles"]
    )
    return zone_or_utc(*_countries(organisations))
