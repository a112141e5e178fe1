"""Plain-HTTP transport for the UNMODIFIED legacy SDK (qcloudapi-sdk-python 2.0.15).

Needed only until scf-bridge has its TLS listener: the SDK hard-codes HTTPS
(``QcloudApi.common.request.MyHTTPSConnection``) and a fixed host for module
``scf`` (``QcloudApi.modules.scf.Scf.requestHost``). This patch swaps exactly those
two module attributes and nothing else, so the SDK still builds, signs (over the
host it is given, port included) and encodes every request itself.

Use it in a throw-away interpreter (see legacy_sdk_call.py) or undo it with the
function ``install`` returns.
"""

from __future__ import annotations

import http.client
from typing import Callable


class PlainHTTPConnection(http.client.HTTPConnection):
    """Drop-in for MyHTTPSConnection: same constructor, same ``request_length`` counter."""

    def __init__(self, host, port=None):
        super().__init__(host, port)
        self.request_length = 0

    def send(self, data):
        super().send(data)
        self.request_length += len(data)

    def request(self, method, url, body=None, headers={}):  # noqa: B006 (same signature as the SDK's)
        self.request_length = 0
        super().request(method, url, body, headers)


def install(host_port: str) -> Callable[[], None]:
    """Point module 'scf' of the legacy SDK at http://<host_port>. Returns an undo function."""
    import QcloudApi.common.request as sdk_request
    import QcloudApi.modules.scf as sdk_scf

    saved = (sdk_request.MyHTTPSConnection, sdk_scf.Scf.requestHost)
    sdk_request.MyHTTPSConnection = PlainHTTPConnection
    sdk_scf.Scf.requestHost = host_port

    def undo() -> None:
        sdk_request.MyHTTPSConnection, sdk_scf.Scf.requestHost = saved

    return undo


def redirect_dns(name: str, port: int, to_host: str, to_port: int) -> Callable[[], None]:
    """Resolve (name, port) to (to_host, to_port), like a hosts-file entry plus a port
    mapping. The SDK is left entirely untouched: it still connects with TLS to
    ``name``, checks the certificate for ``name`` (SNI too) and signs ``name``.
    Returns an undo function."""
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, p, *args, **kwargs):
        if host == name and str(p) == str(port):
            return real(to_host, to_port, *args, **kwargs)
        return real(host, p, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo

    def undo() -> None:
        socket.getaddrinfo = real

    return undo
