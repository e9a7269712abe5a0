"""Format readers: a byte stream in, `TenderRecord`s or `RejectedRecord`s out, streaming."""
