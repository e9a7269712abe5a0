from src.domain.ingest.entities.feed import Feed
from src.domain.ingest.entities.ingest_chunk import IngestChunk
from src.domain.ingest.entities.ingest_run import IngestRun, RunStatus
from src.domain.ingest.entities.rejection import Rejection

__all__ = ["Feed", "IngestChunk", "IngestRun", "Rejection", "RunStatus"]
