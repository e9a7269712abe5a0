"""The error a run stores, and the API shows. A restricted run (a source named through the
API or as a feed) never stores what it fetched: errors that may quote the source's bytes
(a reader's, or any not known to be ours) are replaced by what they mean and what to do;
the worker's log keeps them whole, for the operator."""

from __future__ import annotations

import httpx

from src.infra.errors import describe
from src.infra.source_policy import SourceNotAllowed
from src.infra.sources import SourceError, SourceRetryLater
from src.infra.streams import SizeLimitExceededError, SourceEncodingError
from src.readers import UnknownFormatError
from src.readers.anac_cig import SourceFormatError
from src.readers.eforms import EformsError
from src.readers.ocds import OcdsFormatError

# Their messages are ours: paths, URLs, hosts, sizes and limits, never a source's content.
_OWN_WORDS: tuple[type[BaseException], ...] = (
    SourceError,
    SourceNotAllowed,
    SourceRetryLater,
    SizeLimitExceededError,
    SourceEncodingError,
    httpx.HTTPError,
    OSError,
)

_MEANINGS: tuple[tuple[type[BaseException], str], ...] = (
    (
        UnknownFormatError,
        "the format cannot be told from the source's first bytes: give the format "
        "(ocds, anac_csv, anac_json, anac_pvl or eforms)",
    ),
    (OcdsFormatError, "the source is not OCDS JSON that can be read"),
    (
        SourceFormatError,
        "the source is not an ANAC file (CIG CSV/JSON, PVL notices) that can be read",
    ),
    (EformsError, "the source is not an eForms notice that can be read"),
)


def run_error(error: BaseException, *, restricted: bool) -> str:
    """One line for the run's `error`: the whole message, or for a restricted run one that
    quotes nothing of the source."""
    if not restricted or isinstance(error, _OWN_WORDS):
        return describe(error)
    cause: BaseException | None = error
    while cause is not None:
        meaning = next((text for kind, text in _MEANINGS if isinstance(cause, kind)), None)
        if meaning is not None:
            break
        cause = cause.__cause__
    return (
        f"{type(error).__name__}: {meaning or 'the source could not be read'} (the details "
        "quote the source, so for a source named through the API or as a feed only the "
        "worker's log has them)"
    )
