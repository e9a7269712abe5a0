from src.domain.tender.entities.publication import Publication
from src.domain.tender.entities.tender import Tender

__all__ = ["Publication", "Tender"]
