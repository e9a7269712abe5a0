"""A release's dates are parsed once per text (a source repeats its dates): the same text
read in another zone, as a deadline, or as ANAC's placeholder gives its own moment; a date
that cannot be read is a warning every time; the parsed dates kept stay few."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from src.readers import ocds_values
from src.readers.ocds_values import ReleaseValues

ROME = ZoneInfo("Europe/Rome")


def test_the_same_text_reads_as_its_own_moment_in_each_reading() -> None:
    rome, utc = ReleaseValues(ROME), ReleaseValues(UTC)
    anac = ReleaseValues(ROME, anac=True)
    assert rome.date("published_at", "2024-06-01") == datetime(2024, 6, 1, tzinfo=ROME)
    assert rome.date("published_at", "2024-06-01") == datetime(2024, 6, 1, tzinfo=ROME)
    assert utc.date("published_at", "2024-06-01") == datetime(2024, 6, 1, tzinfo=UTC)
    assert rome.date("deadline_at", "2024-06-01", end_of_day=True) == datetime(
        2024, 6, 1, 23, 59, 59, tzinfo=ROME
    )
    # ANAC's noon UTC is a date in Rome; another publisher's is noon UTC.
    assert anac.date("published_at", "2024-06-01T12:00:00Z") == datetime(2024, 6, 1, tzinfo=ROME)
    assert rome.date("published_at", "2024-06-01T12:00:00Z") == datetime(2024, 6, 1, 12, tzinfo=UTC)
    plus_two = ReleaseValues(timezone(timedelta(hours=2)))
    assert plus_two.date("published_at", "2024-06-01T10:00:00").utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]
    assert not rome.warnings and not anac.warnings


def test_a_date_that_cannot_be_read_is_a_warning_each_time() -> None:
    first, second = ReleaseValues(ROME), ReleaseValues(ROME)
    assert first.date("deadline_at", "31/02/2024") is None
    assert second.date("deadline_at", "31/02/2024") is None
    assert [w.field for w in first.warnings] == ["deadline_at"]
    assert [w.field for w in second.warnings] == ["deadline_at"]


def test_the_dates_kept_stay_few() -> None:
    values = ReleaseValues(UTC)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    for minute in range(ocds_values._DATES_KEPT + 100):
        moment = start + timedelta(minutes=minute)
        assert values.date("published_at", moment.isoformat()) == moment
    assert 0 < len(ocds_values._PARSED_DATES) <= ocds_values._DATES_KEPT
    # A text longer than a date (padded, or a date with a tail) reads the same, unkept.
    padded = "2031-02-03" + " " * 100_000
    assert values.date("published_at", padded) == datetime(2031, 2, 3, tzinfo=UTC)
    assert values.date("published_at", "2031-02-03T10:00:00Z" + "x" * 5000) == datetime(
        2031, 2, 3, tzinfo=UTC
    )
    assert all(len(text) <= 64 for text, *_ in ocds_values._PARSED_DATES)


def test_anac_release_dates_are_read_once_each_and_alike() -> None:
    """ANAC's release dates (`stamp`) are kept as read; each reading gives the same moment,
    a malformed one its local time, one that cannot be read a warning every time."""
    first, second = ReleaseValues(ROME, anac=True), ReleaseValues(ROME, anac=True)
    noon = datetime(2022, 10, 17, 12, tzinfo=UTC)
    assert first.stamp("source_updated_at", "2022-10-17T12:00:00Z") == noon
    assert second.stamp("source_updated_at", "2022-10-17T12:00:00Z") == noon
    assert first.stamp("source_updated_at", "2025-01-08 17:31:38.793T12:00:00Z") == datetime(
        2025, 1, 8, 17, 31, 38, 793000, tzinfo=ROME
    )
    assert first.stamp("source_updated_at", "2022-13-45T12:00:00Z") is None
    assert second.stamp("source_updated_at", "2022-13-45T12:00:00Z") is None
    assert [w.field for w in second.warnings] == ["source_updated_at"]
    padded = " " * 100_000 + "2022-10-17T12:00:00Z"
    assert first.stamp("source_updated_at", padded) == noon
    assert all(len(text) <= 64 for text in ocds_values._PARSED_STAMPS)
    assert len(ocds_values._PARSED_STAMPS) <= ocds_values._DATES_KEPT
