"""The transaction id of the request being handled, for every log line."""

from contextvars import ContextVar

# Green threads (greenlets) each have their own context, so this is per request.
TRANSACTION_ID: ContextVar[str] = ContextVar("transaction_id", default="-")
