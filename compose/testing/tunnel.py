"""The seam for clients that honour HTTPS_PROXY (httpx: gradio_client, huggingface_hub; aiohttp via compose): an
HTTP CONNECT proxy on 127.0.0.1 that tunnels `*.hf.space:443` to the emulated edge and refuses every other host.

No /etc/hosts change: the client asks the proxy for the host name, the proxy knows where the edge is. TLS still
runs end to end between the client and the edge, verified against the throwaway CA.

Usage: `server = await start_tunnel(edge_port)`; then `HTTPS_PROXY=http://127.0.0.1:{port}`.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["start_tunnel"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def start_tunnel(edge_port: int) -> asyncio.Server:
    """Serve CONNECT on a free loopback port; `*.hf.space` goes to the edge on `edge_port`."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        method, target, *_ = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
        host = target.rsplit(":", 1)[0].lower().rstrip(".")
        if method != "CONNECT" or not host.endswith(".hf.space"):
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        try:
            edge_reader, edge_writer = await asyncio.open_connection("127.0.0.1", edge_port)
        except OSError:
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            await writer.drain()
            await asyncio.gather(_pipe(reader, edge_writer), _pipe(edge_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            edge_writer.close()  # the client left, or the emulator is closing: the tunnel ends quietly

    return await asyncio.start_server(serve, "127.0.0.1", 0)
