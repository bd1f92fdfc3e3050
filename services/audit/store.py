"""What a ledger backend provides: a connection, its SQL dialect and its schema."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Row = tuple[Any, ...]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


class Store(Protocol):
    """SQL is written with `?` placeholders; `sql()` turns it into the backend's dialect."""

    name: str

    def sql(self, query: str) -> str: ...

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A condition `column` is one of `values`, and its parameters."""
        ...

    def contains(self, column: str) -> str:
        """A condition: the JSON list in `column` contains the parameter."""
        ...

    def writing(self) -> AbstractContextManager[Cursor]:
        """A transaction that holds the ledger's append lock until it commits."""
        ...

    def reading(self) -> AbstractContextManager[Cursor]: ...

    def pruning(self) -> AbstractContextManager[Cursor]:
        """A write transaction allowed to delete below a recorded prune horizon."""
        ...

    def close(self) -> None: ...
