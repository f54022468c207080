"""Errors by kind, so callers catch at the level they care about.

``CWorkError``
  ``CWorkTransportError``: nothing usable came back (``CWorkTimeout``, ``CWorkConnectionError``,
  ``CWorkTLSError``); safe to retry for reads.
  ``CWorkProtocolError``: an answer came back that cannot be understood (carries the raw excerpt).
  ``CWorkVersionError``: the server's API version lacks the endpoint; raised before sending.
  ``CWorkAPIError``: CWork answered with one of its error codes; one subclass per code of the doc,
  grouped under ``CWorkRequestError`` (1xxx), ``CWorkNotFound``, ``CWorkConflict``,
  ``CWorkLicenseError`` and ``CWorkServerError``.

The catalogue (code, message, HTTP status) is shared with the simulator so that both speak the
same codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .models import MacroResult


class CWorkError(Exception):
    """Anything that went wrong talking to CWork."""

    #: True when a write may have taken effect although it failed (CWork code 2023, a timeout or
    #: a dropped connection after sending): re-read before trying again.
    outcome_unknown: bool = False


class CWorkTransportError(CWorkError):
    """The request got no usable HTTP answer."""

    def __init__(self, message: str, *, endpoint: str = "", sent: bool = False) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.outcome_unknown = sent


class CWorkTimeout(CWorkTransportError):
    """No complete answer within the timeout or the call's overall deadline."""


class CWorkConnectionError(CWorkTransportError):
    """The server could not be reached (refused, reset, DNS, ...)."""


class CWorkTLSError(CWorkConnectionError):
    """The TLS handshake failed: untrusted, expired or unpinned certificate, or no TLS at all."""


class CWorkProtocolError(CWorkError):
    """An answer that is not what the documentation describes and cannot be repaired."""

    EXCERPT_LENGTH = 300

    def __init__(self, message: str, *, body: bytes | str = b"", endpoint: str = "") -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.excerpt = text[: self.EXCERPT_LENGTH]
        self.endpoint = endpoint
        detail = f"{message} (from {endpoint})" if endpoint else message
        if self.excerpt:
            detail = f"{detail}; body starts with: {self.excerpt!r}"
        super().__init__(detail)


class CWorkVersionError(CWorkError):
    """The call needs a newer API version than the server offers. Nothing was sent."""

    def __init__(self, endpoint: str, needed: object, available: object) -> None:
        self.endpoint = endpoint
        self.needed = needed
        self.available = available
        super().__init__(f"{endpoint} needs CWork API v{needed} but the server offers v{available}")


class CWorkAPIError(CWorkError):
    """CWork answered with an error code. ``code`` is CWork's, ``http_status`` the HTTP one."""

    code: int = 0  # the class's CWork code; an instance keeps the one CWork sent (for_code)
    default_message: ClassVar[str] = "CWork returned an error"
    http_status_default: ClassVar[int] = 500
    by_code: ClassVar[dict[int, type[CWorkAPIError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code:
            CWorkAPIError.by_code[cls.code] = cls

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        endpoint: str = "",
    ) -> None:
        self.code = code if code is not None else type(self).code
        self.message = message or self.default_message
        self.http_status = http_status if http_status is not None else self.http_status_default
        self.endpoint = endpoint
        where = f" on {endpoint}" if endpoint else ""
        super().__init__(f"CWork error {self.code}{where}: {self.message}")

    @staticmethod
    def for_code(
        code: int | None, message: str = "", *, http_status: int, endpoint: str = ""
    ) -> CWorkAPIError:
        """The most specific exception for a code; unknown codes keep their number."""
        if code is not None and code in CWorkAPIError.by_code:
            cls = CWorkAPIError.by_code[code]
        elif http_status >= 500:
            cls = CWorkServerError
        elif http_status == 404:
            cls = CWorkNotFound
        elif http_status in (401, 403):
            cls = CWorkLicenseError
        else:
            cls = CWorkRequestError
        return cls(
            message,
            code=code if code is not None else 0,
            http_status=http_status,
            endpoint=endpoint,
        )


class CWorkRequestError(CWorkAPIError):
    """The request was refused as malformed or not allowed (CWork's 1xxx codes)."""

    http_status_default = 400


class CWorkNotFound(CWorkAPIError):
    """The station, state, document, version or resource does not exist."""

    http_status_default = 404


class CWorkConflict(CWorkAPIError):
    """The request contradicts the station's current situation."""

    http_status_default = 409


class CWorkLicenseError(CWorkAPIError):
    """The licence or the user's rights do not allow the call."""

    http_status_default = 403


class CWorkServerError(CWorkAPIError):
    """CWork failed internally."""

    http_status_default = 500


# One class per code of the documentation, with the doc's own message.
class FunctionNotAllowed(CWorkLicenseError):
    code = 1001
    default_message = "Function is not Allowed"


class VersionNotAvailable(CWorkRequestError):
    code = 1002
    default_message = "Version %s is not available"
    http_status_default = 406


class NoVersionSelected(CWorkRequestError):
    code = 1003
    default_message = "No version selected. Please request a specific version"
    http_status_default = 406


class BadRequest(CWorkRequestError):
    code = 1004
    default_message = "Bad Request"


class ParametersMustBeHandle(CWorkRequestError):
    code = 1005
    default_message = "Paramaters must be a handle"


class FunctionNameRequired(CWorkRequestError):
    code = 1006
    default_message = "A function name is required"


class HandleRequired(CWorkRequestError):
    code = 1007
    default_message = "A handle is required for this function."


class MethodNotAllowed(CWorkRequestError):
    code = 1008
    default_message = "Method Not Allowed."
    http_status_default = 405


class MissingParameter(CWorkRequestError):
    code = 1009
    default_message = "Missing required parameter"


class ParameterError(CWorkRequestError):
    code = 1010
    default_message = "Error in parameters"


class InvalidDateFormat(CWorkRequestError):
    code = 1011
    default_message = (
        "A provided date-and-time value does not respect the ISO8601 date-and-time format"
    )


class RemoteDNCUnreachable(CWorkServerError):
    code = 1012
    default_message = "Impossible to join RemoteDNC engine on the network"
    http_status_default = 503


class StationNotInMonitorMode(CWorkConflict):
    code = 1013
    default_message = "The specified station is not assigned to monitor mode"


class NoJpgImage(CWorkNotFound):
    code = 2001
    default_message = "No JPG image is associated with this station"


class NoPngImage(CWorkNotFound):
    code = 2002
    default_message = "No PNG image is associated with this station"


class StationNotFound(CWorkNotFound):
    code = 2003
    default_message = "This station is not available or does not exist"


class ResourceNotFound(CWorkNotFound):
    code = 2004
    default_message = "Ressource not found."


class StateNotFound(CWorkNotFound):
    code = 2005
    default_message = "This state does not exist"


class StateArchived(CWorkConflict):
    code = 2006
    default_message = "This state is archived"


class StationNotInMDCMode(CWorkConflict):
    code = 2007
    default_message = "This station is not in MDC mode"


class DocumentNotFound(CWorkNotFound):
    code = 2008
    default_message = "There is no document found with this ID"


class NoVersionForDocument(CWorkNotFound):
    code = 2009
    default_message = "There is no version found with this document ID"


class RequiredFieldsOmitted(CWorkRequestError):
    code = 2010
    default_message = "Required fields have been omitted in your POST request body"


class EmptyDocumentReference(CWorkRequestError):
    code = 2011
    default_message = "The Reference field for a document cannot be empty"


class DocumentAlreadyExists(CWorkConflict):
    code = 2012
    default_message = "Document already exists"


class VersionNotFound(CWorkNotFound):
    code = 2013
    default_message = "There is no version found with this version ID"


class VersionDocumentMismatch(CWorkRequestError):
    code = 2014
    default_message = (
        "The version identified by the verid provided does not belong to the document "
        "identified by the provided docid"
    )


class FileNotInExchangeFolder(CWorkNotFound):
    code = 2015
    default_message = "The specified file has not been found in the exchange folder"


class VersionSubmitFailed(CWorkServerError):
    code = 2016
    default_message = "An internal error occured while submitting the version"


class Md5Mismatch(CWorkRequestError):
    code = 2017
    default_message = (
        "The provided MD5 differs from the server-side processed MD5 hash. "
        "There might be an issue with the file integrity"
    )


class DocumentMissing(CWorkNotFound):
    code = 2018
    default_message = "Document not found"


class ExtensionNotSupported(CWorkRequestError):
    code = 2019
    default_message = "Extension not supported by the station"


class StateAlreadyAssigned(CWorkConflict):
    code = 2020
    default_message = "This status is already assigned to the station"


class StateNotInScenario(CWorkLicenseError):
    code = 2021
    default_message = "The state is not included in the station scenario"


class StateChangeTimeout(CWorkServerError):
    code = 2022
    default_message = "Timeout error appears during the change of state process"
    http_status_default = 504
    outcome_unknown = True


class StateChangeConflict(CWorkConflict):
    code = 2023
    default_message = (
        "Conflict detected during the change of state process. "
        "The state may have changed despite the error"
    )
    outcome_unknown = True


class SendFailed(CWorkServerError):
    code = 2024
    default_message = "Send ressource returned an error"


class RemoteDeletionFailed(CWorkServerError):
    code = 2025
    default_message = "Remote deletion ressource returned an error"
    #: CWork's account of the failed deletion (its macro's result), when it gave one.
    details: MacroResult | None = None


class NoLicense(CWorkLicenseError):
    code = 3001
    default_message = "No license activate"


class UnexpectedError(CWorkServerError):
    code = 4000
    default_message = "Unexpected Error"


#: Every code of the documentation, for the simulator and for tests.
ERROR_CLASSES: dict[int, type[CWorkAPIError]] = dict(sorted(CWorkAPIError.by_code.items()))
