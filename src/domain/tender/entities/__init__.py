from src.domain.tender.entities.ocds_release import OcdsRelease
from src.domain.tender.entities.publication import Publication
from src.domain.tender.entities.tender import Tender
from src.domain.tender.entities.tender_change import TenderChange

__all__ = ["OcdsRelease", "Publication", "Tender", "TenderChange"]
