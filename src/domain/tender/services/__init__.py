from src.domain.tender.services.notice_service import NoticeService, StoredNotice
from src.domain.tender.services.release_service import (
    ReleaseHistory,
    ReleaseService,
    StoredRelease,
)
from src.domain.tender.services.tender_service import TenderService

__all__ = [
    "NoticeService",
    "ReleaseHistory",
    "ReleaseService",
    "StoredNotice",
    "StoredRelease",
    "TenderService",
]
