"""TLS settings for talking to CWork.

CWork serves either HTTPS with a self-signed certificate (the default) or plain HTTP, never
both. The client verifies by default and offers three ways to live with a self-signed server:

* ``ca_file``: trust exactly that CA (or that self-signed certificate); the host name is still
  checked.
* ``fingerprint``: pin the server certificate's SHA-256. Chain, host name and validity dates are
  not checked (appliances are reached by IP and run on expired self-signed certificates), but the
  pin is compared *inside the TLS handshake*, before a single HTTP byte (and so the API key in the
  ``Authorization`` header) is written to the connection.
* ``verify=False``: no verification at all, logged once per process as a warning.

:func:`ssl_context` returns a plain :class:`ssl.SSLContext` that works as ``verify=`` for both
``httpx.Client`` (httpcore calls ``wrap_socket``) and ``httpx.AsyncClient`` (anyio calls
``wrap_bio``). Pinning works by giving that context its own ``sslsocket_class`` and
``sslobject_class``, whose ``do_handshake`` compares the peer's certificate with the pin once
OpenSSL has finished the handshake, and whose reads and writes refuse to run before that check
has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import ssl
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer  # as ssl's stubs type them

__all__ = ["format_fingerprint", "normalize_fingerprint", "ssl_context"]

logger = logging.getLogger("cwork.tls")

_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_COLON_RE = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){31}")

#: Warnings already given in this process ("insecure", "expired:<fingerprint>", ...).
_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, message: str, *args: object) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


def format_fingerprint(der: bytes) -> str:
    """The SHA-256 of a DER certificate as ``AB:CD:...`` (upper case, colon separated)."""
    return _format_digest(hashlib.sha256(der).digest())


def _format_digest(digest: bytes) -> str:
    return ":".join(f"{byte:02X}" for byte in digest)


def normalize_fingerprint(text: str) -> str:
    """Read a SHA-256 fingerprint given as hex, with or without colons, in any case.

    Returns the ``AB:CD:...`` form. Anything else (another length, other separators, another
    digest) raises :class:`ValueError`.
    """
    if not isinstance(text, str):
        raise TypeError(f"a fingerprint must be a string, not {type(text).__name__}")
    stripped = text.strip()
    if _HEX64_RE.fullmatch(stripped):
        digest = bytes.fromhex(stripped)
    elif _COLON_RE.fullmatch(stripped):
        digest = bytes.fromhex(stripped.replace(":", ""))
    else:
        digits = sum(c in "0123456789abcdefABCDEF" for c in stripped)
        raise ValueError(
            f"not a SHA-256 certificate fingerprint: {text!r} (expected 64 hex digits, plain "
            f"or as 32 colon-separated pairs like AB:CD:...; found {digits} hex digits)"
        )
    return _format_digest(digest)


def ssl_context(
    *,
    verify: bool = True,
    ca_file: str | os.PathLike[str] | None = None,
    fingerprint: str | None = None,
) -> ssl.SSLContext:
    """A client context for CWork, to pass as httpx's ``verify=``.

    * default: the system trust store, host name checked;
    * ``ca_file``: trust exactly the certificates in that PEM file, host name checked;
    * ``fingerprint``: accept exactly the server certificate with that SHA-256, checked during the
      handshake (chain, host name and dates are not checked; an expired pinned certificate is
      accepted with a warning);
    * ``verify=False``: no verification (a warning is logged once per process).

    ``ca_file`` with ``fingerprint``, or ``verify=False`` with either, raises ``ValueError``.
    """
    if ca_file is not None and fingerprint is not None:
        raise ValueError(
            "give either ca_file or fingerprint, not both: a pinned fingerprint replaces "
            "certificate-chain verification"
        )
    if not verify and (ca_file is not None or fingerprint is not None):
        raise ValueError(
            "verify=False turns verification off; it cannot be combined with ca_file or "
            "fingerprint (drop verify=False to use them)"
        )

    if fingerprint is not None:
        return _pinned_context(normalize_fingerprint(fingerprint))

    if ca_file is not None:
        path = os.fspath(ca_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"CA file not found: {path}")
        try:
            return ssl.create_default_context(cafile=path)
        except ssl.SSLError as exc:
            raise ValueError(f"CA file {path} holds no usable PEM certificate: {exc}") from exc

    if verify:
        return ssl.create_default_context()
    context = _unverified_context()
    _warn_once(
        "insecure",
        "TLS certificate verification is turned off for CWork: the connection is "
        "encrypted but the server is not authenticated (prefer a CA file or a pinned "
        "fingerprint)",
    )
    return context


def _unverified_context() -> ssl.SSLContext:
    """TLS 1.2+ without chain or host name checks (and without loading the system store)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# --- pinning --------------------------------------------------------------------------------


class _PinnedMixin:
    """Shared by the socket and the memory-BIO flavours; ``_cwork_pin`` is set per context."""

    _cwork_pin: bytes = b""
    _cwork_pin_ok: bool = False

    def _cwork_check_pin(self, der: bytes | None) -> None:
        """``der``: the peer's certificate (``getpeercert(binary_form=True)``)."""
        expected = _format_digest(self._cwork_pin)
        if not der:
            raise _mismatch(f"certificate fingerprint mismatch: expected {expected}, got none")
        digest = hashlib.sha256(der).digest()
        if not hmac.compare_digest(digest, self._cwork_pin):
            raise _mismatch(
                f"certificate fingerprint mismatch: expected {expected}, "
                f"got {_format_digest(digest)}"
            )
        _warn_if_out_of_dates(der, expected)
        self._cwork_pin_ok = True


class _PinnedSSLSocket(_PinnedMixin, ssl.SSLSocket):
    """Blocking sockets (``httpx.Client``): ``wrap_socket`` → ``do_handshake`` → pin check."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        self._cwork_check_pin(self.getpeercert(binary_form=True))

    # A socket wrapped with do_handshake_on_connect=False would let OpenSSL run the handshake
    # implicitly inside the first write or read: make those go through the checked handshake.
    def _cwork_ensure_checked(self) -> None:
        if not self._cwork_pin_ok:
            self.do_handshake()

    def send(self, data: ReadableBuffer, flags: int = 0) -> int:
        self._cwork_ensure_checked()
        return super().send(data, flags)

    def write(self, data: ReadableBuffer) -> int:
        self._cwork_ensure_checked()
        return super().write(data)

    def read(self, len: int = 1024, buffer: WriteableBuffer | None = None) -> bytes:
        self._cwork_ensure_checked()
        return super().read(len, buffer)


class _PinnedSSLObject(_PinnedMixin, ssl.SSLObject):
    """Memory BIOs (``httpx.AsyncClient`` through anyio): ``wrap_bio`` → ``do_handshake``."""

    def do_handshake(self) -> None:
        # Raises SSLWantReadError until the handshake is complete; then the pin is compared
        # before the caller gets a chance to write application data.
        super().do_handshake()
        self._cwork_check_pin(self.getpeercert(binary_form=True))

    def write(self, data: ReadableBuffer) -> int:
        if not self._cwork_pin_ok:
            self.do_handshake()
        return super().write(data)

    def read(self, len: int = 1024, buffer: WriteableBuffer | None = None) -> bytes:
        if not self._cwork_pin_ok:
            self.do_handshake()
        return super().read(len, buffer)


def _mismatch(message: str) -> ssl.SSLCertVerificationError:
    # (errno, strerror) like OpenSSL's own errors, so that str(error) is the message itself.
    error = ssl.SSLCertVerificationError(ssl.SSL_ERROR_SSL, message)
    # The attributes OpenSSL's own verification errors carry, for code that inspects them.
    error.reason = "CERTIFICATE_FINGERPRINT_MISMATCH"
    error.library = "cwork.tls"
    error.verify_code = 0
    error.verify_message = message
    return error


def _warn_if_out_of_dates(der: bytes, fingerprint: str) -> None:
    """The pin is the identity, so dates do not matter; still say so once per certificate."""
    try:
        from cryptography import x509

        certificate = x509.load_der_x509_certificate(der)
        not_before = certificate.not_valid_before_utc
        not_after = certificate.not_valid_after_utc
    except Exception:  # an unparsable certificate is not our concern once it matches the pin
        logger.debug("could not read the validity dates of pinned certificate %s", fingerprint)
        return
    now = datetime.now(UTC)
    if now > not_after:
        _warn_once(
            f"expired:{fingerprint}",
            "the pinned CWork certificate %s expired on %s; accepted because it matches the "
            "pinned fingerprint",
            fingerprint,
            not_after.isoformat(),
        )
    elif now < not_before:
        _warn_once(
            f"not-yet-valid:{fingerprint}",
            "the pinned CWork certificate %s is not valid before %s (check the clocks); "
            "accepted because it matches the pinned fingerprint",
            fingerprint,
            not_before.isoformat(),
        )


def _pinned_context(fingerprint: str) -> ssl.SSLContext:
    pin = bytes.fromhex(fingerprint.replace(":", ""))
    context = _unverified_context()
    # Per-context subclasses carry the pin; set on the instance so that the context stays a
    # plain ssl.SSLContext (anyio moves wrap_bio() to a worker thread for subclasses).
    socket_class = type("PinnedSSLSocket", (_PinnedSSLSocket,), {"_cwork_pin": pin})
    object_class = type("PinnedSSLObject", (_PinnedSSLObject,), {"_cwork_pin": pin})
    context.sslsocket_class = socket_class
    context.sslobject_class = object_class
    return context
