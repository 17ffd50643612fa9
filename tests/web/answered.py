"""Whether a request's change was stored before its answer went out: the app wrapped so that it
notes when each response starts, and the transactions with a write committed after that. A
form's redirect is followed at once, and the next page must show the change
(digest/web/forms.py); a commit left to the request's dependency runs after the answer is sent
(FastAPI ends it then). A read's transaction ending after the answer changes nothing, and is not
counted."""

from __future__ import annotations

from sqlalchemy import Engine, event

_WRITES = ("INSERT", "UPDATE", "DELETE")


class AnswerWatch:
    """An ASGI app around `app`; `late` lists the requests that committed a write after answering."""

    def __init__(self, app) -> None:
        self.app = app
        self.late: list[str] = []
        self._answered: str | None = None
        self._writing: set[int] = set()  # connections whose transaction has written
        self._listeners = [(Engine, "before_cursor_execute", self._executed), (Engine, "commit", self._committed),
                           (Engine, "rollback", self._rolled_back)]
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)

    def close(self) -> None:
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)

    def _executed(self, connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(_WRITES):
            self._writing.add(id(connection))

    def _committed(self, connection) -> None:
        if id(connection) in self._writing and self._answered is not None:
            self.late.append(self._answered)
        self._writing.discard(id(connection))

    def _rolled_back(self, connection) -> None:
        self._writing.discard(id(connection))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self._answered = None  # the test client sends one request at a time

        async def noting(message) -> None:
            if message["type"] == "http.response.start":
                self._answered = f"{scope['method']} {scope['path']}"
            await send(message)

        await self.app(scope, receive, noting)
