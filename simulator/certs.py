"""Self-signed certificates for the simulator, like the ones a CWork server uses.

``load_or_create`` keeps the pair in a directory and reuses it, so the fingerprint stays the
same across restarts and a dashboard that pinned it keeps working.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cwork.tls import format_fingerprint

__all__ = ["CertPair", "generate_self_signed", "load_or_create", "server_ssl_context"]

logger = logging.getLogger("simulator.certs")

DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_NAME = "cwork-simulator"


@dataclass(frozen=True)
class CertPair:
    cert_path: Path
    key_path: Path
    #: SHA-256 of the DER certificate, ``AB:CD:...`` (what a dashboard pins).
    fingerprint: str


def generate_self_signed(
    directory: Path,
    *,
    hostnames: Iterable[str] = DEFAULT_HOSTNAMES,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    name: str = DEFAULT_NAME,
) -> CertPair:
    """Write a new self-signed EC P-256 certificate and key into ``directory``.

    Host names that are IP addresses go in as IP SANs, the others as DNS names. Validity is
    now − 1 day .. now + 825 days unless given (naive datetimes are taken as UTC). The files
    are ``<name>.crt`` and ``<name>.key`` (PEM, the key readable by the owner only); existing
    files are replaced.
    """
    directory = Path(directory)
    names = list(hostnames)
    if not names:
        raise ValueError("a certificate needs at least one host name or IP address")
    now = datetime.now(UTC)
    start = _utc(not_before) if not_before is not None else now - timedelta(days=1)
    end = _utc(not_after) if not_after is not None else now + timedelta(days=825)
    if end <= start:
        raise ValueError(
            f"not_after ({end.isoformat()}) must be after not_before ({start.isoformat()})"
        )

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name[:64] or DEFAULT_NAME),
        ]
    )
    alt_names: list[x509.GeneralName] = []
    for host in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )

    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Key first: load_or_create only trusts a directory holding both files.
    _write_atomically(key_path, key_pem, mode=0o600)
    _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    der = certificate.public_bytes(serialization.Encoding.DER)
    return CertPair(cert_path=cert_path, key_path=key_path, fingerprint=format_fingerprint(der))


def load_or_create(directory: Path) -> CertPair:
    """The pair kept in ``directory``, created on first use.

    An existing, readable and matching pair is reused as is, even expired (a pinned dashboard
    accepts it; a warning says so); a missing, unreadable or mismatched one is replaced.
    """
    directory = Path(directory)
    cert_path = directory / f"{DEFAULT_NAME}.crt"
    key_path = directory / f"{DEFAULT_NAME}.key"
    if cert_path.is_file() and key_path.is_file():
        try:
            pair = _load(cert_path, key_path)
        except (ValueError, TypeError, OSError) as exc:
            logger.warning("replacing the simulator certificate in %s: %s", directory, exc)
        else:
            return pair
    pair = generate_self_signed(directory)
    logger.info("created simulator certificate %s (SHA-256 %s)", pair.cert_path, pair.fingerprint)
    return pair


def server_ssl_context(pair: CertPair) -> ssl.SSLContext:
    """A server-side context presenting ``pair`` (TLS 1.2 or newer)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=os.fspath(pair.cert_path), keyfile=os.fspath(pair.key_path))
    return context


def _load(cert_path: Path, key_path: Path) -> CertPair:
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, public):
        raise ValueError("the key does not belong to the certificate")
    fingerprint = format_fingerprint(certificate.public_bytes(serialization.Encoding.DER))
    if certificate.not_valid_after_utc < datetime.now(UTC):
        logger.warning(
            "the simulator certificate %s expired on %s (kept: its fingerprint %s is what "
            "dashboards pin; delete it to get a new one)",
            cert_path,
            certificate.not_valid_after_utc.isoformat(),
            fingerprint,
        )
    return CertPair(cert_path=cert_path, key_path=key_path, fingerprint=fingerprint)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write through a temporary file created with ``mode`` (no window with a wider mode)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):  # not on Windows before 3.13
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
