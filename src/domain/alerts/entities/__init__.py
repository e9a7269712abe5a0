from src.domain.alerts.entities.delivery import Delivery
from src.domain.alerts.entities.tender_event import TenderEvent
from src.domain.alerts.entities.watch import Watch, WatchKey

__all__ = ["Delivery", "TenderEvent", "Watch", "WatchKey"]
