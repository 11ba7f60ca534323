"""Download a file over HTTP or HTTPS with asyncio streams (stdlib only):
event-driven, with a size limit, an idle timeout, progress callbacks, and
cancellation (abort) at any await. Redirects (301, 302, 303, 307, 308) are
followed up to :data:`MAX_REDIRECTS` times, never from https to http: image
servers and CDNs answer a stable URL with a redirect to the file, and an
operator's URL must not quietly lose its TLS on the way. Failures are
:class:`FetchError` with the bbf-software-management error identity that
names them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

_CHUNK = 1 << 16
MAX_HEADER = 16 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    def __init__(self, tag: str, message: str) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message


_STATUS_TAGS = {401: "authentication-required", 403: "access-denied", 404: "file-not-found", 410: "file-not-found",
                414: "url-too-long", 502: "bad-gateway", 503: "service-unavailable", 504: "gateway-timeout"}


async def fetch(
    url: str,
    dest: Path,
    *,
    max_size: int,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Write the body at ``url`` to ``dest``; return its size. ``timeout``
    bounds the connection and every wait for more bytes."""
    for _ in range(MAX_REDIRECTS + 1):
        location = await _get(url, dest, max_size=max_size, timeout=timeout, ssl_context=ssl_context, progress=progress)
        if isinstance(location, int):
            return location
        target = urljoin(url, location)
        if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
            raise FetchError("protocol-not-supported-by-peer", f"{url} redirects to {target[:200]}, which drops TLS: refused")
        url = target
    raise FetchError("request-refused-by-peer", f"more than {MAX_REDIRECTS} redirects; the last to {url[:200]}")


async def _get(
    url: str,
    dest: Path,
    *,
    max_size: int,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    progress: Callable[[int, int | None], None] | None,
) -> int | str:
    """One GET: the body's size, or the Location of a redirect."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError("protocol-not-supported-by-peer", f"only http and https downloads are supported, not {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError("invalid-inet-address", f"no host in {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls = None
    if parts.scheme == "https":
        tls = ssl_context or ssl.create_default_context()
    try:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the cancel of an abort
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=tls, server_hostname=parts.hostname if tls else None, limit=MAX_HEADER)
    except TimeoutError:
        raise FetchError("connection-time-out", f"{parts.hostname}:{port} did not answer in {timeout:.0f} s") from None
    except ssl.SSLError as exc:
        raise FetchError("protocol-execution-error", f"TLS with {parts.hostname}:{port} failed: {exc.reason or exc}") from None
    except ConnectionRefusedError:
        raise FetchError("connection-refused-by-peer", f"{parts.hostname}:{port} refused the connection") from None
    except OSError as exc:
        raise FetchError("remote-peer-not-reachable", f"{parts.hostname}:{port}: {exc.strerror or exc}") from None
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:
            host = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: dpu-agent\r\n\r\n".encode())
        await writer.drain()
        try:
            async with asyncio.timeout(timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            raise FetchError("connection-time-out", f"{parts.hostname}:{port} sent no reply in {timeout:.0f} s") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise FetchError("protocol-execution-error", "bad HTTP reply header") from None
        status, headers = _parse_head(head)
        if status in _REDIRECTS:
            location = headers.get("location")
            if not location:
                raise FetchError("protocol-execution-error", f"the server answered HTTP {status} without a Location")
            return location
        if status != 200:
            raise FetchError(_STATUS_TAGS.get(status, "request-refused-by-peer"), f"the server answered HTTP {status}")
        length = headers.get("content-length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_size:
            raise FetchError("invalid-file-size", f"the file has {total} bytes, more than the {max_size} allowed")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        received = 0
        # local writes of one chunk are short: done in the loop, not a thread
        with open(dest, "wb") as out:
            async for chunk in _body(reader, chunked, total, timeout):
                received += len(chunk)
                if received > max_size:
                    raise FetchError("invalid-file-size", f"the file is larger than the {max_size} bytes allowed")
                out.write(chunk)
                if progress is not None:
                    progress(received, total)
                # a read that finds data buffered does not yield: on a fast
                # link the loop would serve nobody else until the end
                await asyncio.sleep(0)
        if total is not None and received != total:
            raise FetchError("connection-reset-by-peer", f"the connection ended after {received} of {total} bytes")
        return received
    finally:
        writer.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        version, code, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/"):
            raise ValueError
        status = int(code)
    except ValueError:
        raise FetchError("protocol-execution-error", f"not an HTTP reply: {lines[0][:80]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read(reader: asyncio.StreamReader, coro: Awaitable[bytes], timeout: float) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            return await coro
    except TimeoutError:
        raise FetchError("connection-time-out", f"no data for {timeout:.0f} s") from None
    except asyncio.IncompleteReadError:
        raise FetchError("connection-reset-by-peer", "the connection ended in the middle of the file") from None
    except (ConnectionError, ssl.SSLError) as exc:
        raise FetchError("connection-reset-by-peer", f"the connection broke: {exc}") from None


async def _body(reader: asyncio.StreamReader, chunked: bool, total: int | None, timeout: float) -> AsyncIterator[bytes]:
    if not chunked:
        left = total
        while left is None or left > 0:
            chunk = await _read(reader, reader.read(_CHUNK if left is None else min(_CHUNK, left)), timeout)
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk
        return
    while True:
        line = await _read(reader, reader.readline(), timeout)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise FetchError("protocol-execution-error", "bad chunk in the HTTP reply") from None
        if size == 0:
            return
        left = size
        while left:
            chunk = await _read(reader, reader.read(min(_CHUNK, left)), timeout)
            if not chunk:
                raise FetchError("connection-reset-by-peer", "the connection ended in the middle of the file")
            left -= len(chunk)
            yield chunk
        await _read(reader, reader.readexactly(2), timeout)
