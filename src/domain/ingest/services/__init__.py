from src.domain.ingest.services.chunk_service import ChunkService
from src.domain.ingest.services.feed_service import FeedService
from src.domain.ingest.services.run_service import RunService

__all__ = ["ChunkService", "FeedService", "RunService"]
