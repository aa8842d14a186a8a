"""A minimal HTTP/1.1 keep-alive client for the load test.

The load generator shares the machine with the server it measures, so every
millisecond of client CPU is taken from the server: httpx spends about 1 ms per
request, this about 0.1 ms (one write of prebuilt headers, one read of a
Content-Length or chunked body). It speaks just enough HTTP for a POST to our
own server; a wrk-style tool would do, but none ships with Python.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class HttpError(Exception):
    pass


class KeepAliveConnection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        lines = [f"Host: {host}:{port}", "Content-Type: application/json", "Connection: keep-alive"]
        self._headers = "".join(
            f"{line}\r\n" for line in [*lines, *(f"{k}: {v}" for k, v in headers.items())]
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        """POST ``payload``; the status and the decoded JSON body."""
        body = json.dumps(payload).encode()
        head = f"POST {path} HTTP/1.1\r\n{self._headers}Content-Length: {len(body)}\r\n\r\n".encode()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(head + body)
        try:
            status, data, keep = await self._response(self._reader)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise HttpError(type(exc).__name__) from exc
        if not keep:
            await self.close()
        return status, json.loads(data) if data else None

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        if "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            data = b"".join(parts)
        else:
            data = await reader.read()
            return status, data, False
        return status, data, headers.get("connection", "").lower() != "close"

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None
