"""One exception base; each subclass says what the user should do next."""

from __future__ import annotations


class MlsdError(Exception):
    """Base of every error the product raises on purpose. The message is shown to the user."""


class ConfigError(MlsdError):
    """A setting is wrong (bad model name, unknown mode, unreachable endpoint)."""


class InputError(MlsdError):
    """A user input is empty, too large or malformed."""


class EmptyStoreError(MlsdError):
    """The vector store has no chunks yet."""

    def __init__(self, store: str) -> None:
        super().__init__(f"The store at {store} is empty: run `mlsd ingest` first.")


class StoreMismatchError(MlsdError):
    """The store was built with an embedding model or precision that does not match the query's."""


class StoreBusyError(MlsdError):
    """Another process holds the store's write lock."""


class IngestFileError(MlsdError):
    """One file could not be ingested; the rest of the run goes on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
