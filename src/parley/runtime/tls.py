"""TLS contexts for the SIP transports, and a self-signed certificate for development.

SIP over TLS (RFC 3261 §26.2, RFC 5630) and WSS (RFC 7118 §5) need a server certificate.
For local development and tests :func:`dev_certificate` makes one for ``localhost``,
``127.0.0.1`` and ``::1`` and keeps reusing it, so a client can be told to trust that one
file instead of switching verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["client_context", "dev_certificate", "server_context"]

CERT_NAME = "parley-dev-cert.pem"
KEY_NAME = "parley-dev-key.pem"
_VALIDITY = datetime.timedelta(days=825)
# Regenerate a little before expiry so a long-running dev server does not fall off the edge.
_RENEW_MARGIN = datetime.timedelta(days=7)


def _still_valid(cert_path: Path, key_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc - _RENEW_MARGIN


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` atomically with ``mode`` (the key must never be world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def dev_certificate(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(cert_path, key_path)`` of a self-signed localhost certificate in ``directory``.

    The pair is generated on first use (ECDSA P-256, subjectAltName ``localhost``,
    ``127.0.0.1``, ``::1``) and reused while it stays valid.  It is fine for development
    and tests only: clients must trust exactly this certificate (``client_context(True,
    cafile=cert_path)``).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if cert_path.exists() and key_path.exists() and _still_valid(cert_path, key_path):
        return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Parley development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        # Hostname checks use subjectAltName only (RFC 6125 §6.4.4; RFC 5922 §7.1 for SIP).
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        # The certificate is its own trust anchor; being a CA lets strict verifiers
        # (e.g. VERIFY_X509_STRICT) accept it as one.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def server_context(
    cert: str | os.PathLike[str],
    key: str | os.PathLike[str],
    *,
    client_cafile: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A server-side context for TLS and WSS listeners.

    With ``client_cafile`` the server also asks for, and verifies, client certificates
    (mutual TLS between proxies, RFC 3261 §26.3.2.2); without it clients stay anonymous at
    the TLS layer and authenticate with SIP digest instead.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # RFC 8996 deprecates TLS 1.0 and 1.1.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.fspath(cert), os.fspath(key))
    if client_cafile is not None:
        context.load_verify_locations(cafile=os.fspath(client_cafile))
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(
    verify: bool = True,
    cafile: str | os.PathLike[str] | None = None,
    *,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A client-side context for outbound TLS connections.

    ``verify`` checks the server certificate and host name (RFC 5922 §7.2) against
    ``cafile`` if given, else the system trust store.  ``verify=False`` is for lab setups
    only.  ``cert``/``key`` present a client certificate for mutual TLS.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if cafile is not None:
            context.load_verify_locations(cafile=os.fspath(cafile))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(os.fspath(cert), None if key is None else os.fspath(key))
    return context
