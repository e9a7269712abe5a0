from src.domain.tender.services.release_service import (
    ReleaseHistory,
    ReleaseService,
    StoredRelease,
)
from src.domain.tender.services.tender_service import TenderService

__all__ = ["ReleaseHistory", "ReleaseService", "StoredRelease", "TenderService"]
