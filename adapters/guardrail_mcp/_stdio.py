"""Stdio transport whose stdin reads can be cancelled.

``mcp.server.stdio.stdio_server`` reads stdin in a worker thread that cannot be
cancelled, so a proxy asked to stop (SIGTERM, manifest expiry) would hang until its
client wrote another line. Here stdin is read through the event loop's pipe support,
which cancellation interrupts; stdout is still claimed by ``stdio_server`` (which also
points fd 1 at stderr so stray prints cannot corrupt the wire).
"""

from __future__ import annotations

import asyncio
import codecs
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any, cast

import anyio
from mcp.server.stdio import stdio_server

__all__ = ["PipeLines", "stdio_streams"]

_CHUNK = 1 << 16


class PipeLines:
    """Async iterator over the text lines of a file descriptor, read without threads.

    Falls back to a thread when the descriptor is not a pipe, socket or terminal (e.g. a
    regular file, which never blocks).
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        async for chunk in self._chunks():
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                if line.strip():
                    yield line
        pending += decoder.decode(b"", final=True)
        if pending.strip():
            yield pending

    async def _chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        fd = os.dup(self._fd)
        pipe = os.fdopen(fd, "rb", buffering=0)
        reader = asyncio.StreamReader(limit=_CHUNK)
        try:
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        except ValueError:  # not a pipe/socket/character device: plain blocking reads never hang
            try:
                while chunk := await anyio.to_thread.run_sync(pipe.read, _CHUNK):
                    yield chunk
            finally:
                pipe.close()
            return
        try:
            while chunk := await reader.read(_CHUNK):
                yield chunk
        finally:
            transport.close()
            # connect_read_pipe made the shared file description non-blocking; undo that
            # for whoever else holds it (e.g. a parent shell).
            with suppress(OSError):
                os.set_blocking(self._fd, True)


def stdio_streams() -> AbstractAsyncContextManager[Any]:
    """``stdio_server()`` with a cancellable stdin reader (asyncio backend)."""
    stdin = PipeLines(sys.stdin.fileno())
    return stdio_server(stdin=cast("anyio.AsyncFile[str]", stdin))
