"""The firmware download's HTTP client (agent/fetch.py) against loopback
HTTP and HTTPS servers: redirects followed (relative and absolute, every
redirect status), a loop cut off, and a redirect from https to http refused."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import threading

import pytest

from agent.fetch import MAX_REDIRECTS, FetchError, fetch

from .support import pki

BODY = b"firmware bytes " * 1000


class Handler(http.server.BaseHTTPRequestHandler):
    #: filled per server: path -> (status, location)
    redirects: dict[str, tuple[int, str]] = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path in self.redirects:
            status, location = self.redirects[self.path]
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/file":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
            return
        self.send_error(404)


@pytest.fixture
def servers(tmp_path):
    """A plain and a TLS server sharing one redirect table; the client's TLS context."""
    table: dict[str, tuple[int, str]] = {}
    handler = type("H", (Handler,), {"redirects": table})
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ca = pki.ca("web ca")
    cert, key = pki.leaf("127.0.0.1", ca, ips=("127.0.0.1",), server=True).write(tmp_path, "web")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    tls.socket = server_ctx.wrap_socket(tls.socket, server_side=True)
    for s in (plain, tls):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    client_ctx = ssl.create_default_context(cafile=str(ca.write_cert(tmp_path / "ca.pem")))
    yield table, f"http://127.0.0.1:{plain.server_address[1]}", f"https://127.0.0.1:{tls.server_address[1]}", client_ctx
    for s in (plain, tls):
        s.shutdown()
        s.server_close()


def _fetch(url, dest, ctx):
    return asyncio.run(fetch(url, dest, max_size=1 << 20, timeout=5, ssl_context=ctx))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_followed(servers, tmp_path, status):
    table, http_base, _, ctx = servers
    table["/stable"] = (status, "/hop")  # relative
    table["/hop"] = (302, f"{http_base}/file")  # absolute
    dest = tmp_path / "out"
    assert _fetch(f"{http_base}/stable", dest, ctx) == len(BODY)
    assert dest.read_bytes() == BODY


def test_https_may_redirect_to_https(servers, tmp_path):
    table, _, https_base, ctx = servers
    table["/stable"] = (301, f"{https_base}/file")
    assert _fetch(f"{https_base}/stable", tmp_path / "out", ctx) == len(BODY)


def test_a_redirect_from_https_to_http_is_refused(servers, tmp_path):
    table, http_base, https_base, ctx = servers
    table["/stable"] = (302, f"{http_base}/file")
    with pytest.raises(FetchError) as e:
        _fetch(f"{https_base}/stable", tmp_path / "out", ctx)
    assert e.value.tag == "protocol-not-supported-by-peer"
    assert "drops TLS" in e.value.message
    assert not (tmp_path / "out").exists()


def test_a_redirect_loop_ends(servers, tmp_path):
    table, http_base, _, ctx = servers
    table["/a"] = (302, "/b")
    table["/b"] = (302, "/a")
    with pytest.raises(FetchError) as e:
        _fetch(f"{http_base}/a", tmp_path / "out", ctx)
    assert e.value.tag == "request-refused-by-peer"
    assert f"more than {MAX_REDIRECTS} redirects" in e.value.message


def test_a_redirect_without_location_is_a_protocol_error(servers, tmp_path):
    table, http_base, _, ctx = servers
    table["/nowhere"] = (302, "")
    with pytest.raises(FetchError) as e:
        _fetch(f"{http_base}/nowhere", tmp_path / "out", ctx)
    assert e.value.tag == "protocol-execution-error"
