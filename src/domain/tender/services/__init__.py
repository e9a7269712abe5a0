from src.domain.tender.services.tender_service import TenderService

__all__ = ["TenderService"]
