from src.domain.runs.entities.feed import Feed
from src.domain.runs.entities.ingest_chunk import IngestChunk
from src.domain.runs.entities.ingest_run import IngestRun, RunStatus
from src.domain.runs.entities.rejection import Rejection

__all__ = ["Feed", "IngestChunk", "IngestRun", "Rejection", "RunStatus"]
