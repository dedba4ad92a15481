"""A throwaway certificate authority for the emulated `*.hf.space` edge, and a CA bundle that trusts it.

The bundle is certifi's roots plus the throwaway CA, so pointing `SSL_CERT_FILE` at it keeps every other HTTPS
host verifiable while the emulator runs. Nothing is written outside a temporary folder removed on close.

Usage: `tls = EdgeTLS(tmp); tls.server_context(); tls.bundle  # path of the CA bundle`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["EdgeTLS"]


class EdgeTLS:
    """The CA, the edge's certificate for `*.hf.space` and `hf.space`, and a trusting bundle under `folder`."""

    def __init__(self, folder: Path) -> None:
        import trustme  # the `testing` extra: a runtime dependency of compose.testing only

        self.ca = trustme.CA(organization_name="compose.testing throwaway CA")
        self._cert = self.ca.issue_cert("*.hf.space", "hf.space")
        self.ca_file = folder / "edge-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.bundle = folder / "ca-bundle.pem"
        roots = b""
        try:
            import certifi

            roots = Path(certifi.where()).read_bytes()
        except ImportError:  # no certifi: the bundle trusts the emulator only
            pass
        self.bundle.write_bytes(roots + b"\n" + self.ca.cert_pem.bytes())

    def server_context(self) -> ssl.SSLContext:
        """The edge's TLS server context (HTTP/1.1 only, as a Gradio client expects)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the emulated edge (and the usual roots)."""
        return ssl.create_default_context(cafile=str(self.bundle))
