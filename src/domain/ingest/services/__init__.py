from src.domain.ingest.services.feed_service import FeedService
from src.domain.ingest.services.run_service import RunService

__all__ = ["FeedService", "RunService"]
