from src.domain.runs.services.chunk_service import ChunkService
from src.domain.runs.services.feed_service import FeedService
from src.domain.runs.services.run_service import RunService

__all__ = ["ChunkService", "FeedService", "RunService"]
