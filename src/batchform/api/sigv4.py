"""AWS Signature Version 4, verified: the ``Authorization`` header of a call, checked as AWS does.

The canonical request, the string to sign and the signature are botocore's own
(:class:`botocore.auth.SigV4Auth`), computed over the headers the client says it signed, so what
boto3, the AWS CLI and the SageMaker SDK sign is what is checked here; the signatures are
compared in constant time.

The checks, in order, and what each failure answers (codes, statuses and wordings are what
AWS's JSON services answer, SageMaker's among them):

* no ``Authorization`` header: ``MissingAuthenticationTokenException`` (403);
* a header that is not ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``, or no
  ``X-Amz-Date``: ``IncompleteSignatureException`` (400);
* an ``X-Amz-Security-Token`` (temporary credentials: batchform has none to check it against),
  or an access key id the server does not know: ``UnrecognizedClientException`` (400);
* a credential scoped to another service, a date more than 15 minutes off the server's clock,
  or a signature that does not match: ``InvalidSignatureException`` (400).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from batchform.auth.keys import AccessKey
from batchform.errors import BatchformError

ALGORITHM = "AWS4-HMAC-SHA256"
CLOCK_SKEW = timedelta(minutes=15)  # AWS's window, either side of the server's clock
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"

MISSING_TOKEN_MESSAGE = "Request is missing Authentication Token"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
# The parameters a SigV4 Authorization header must hold, in the order AWS names them.
_REQUIRED_PARAMETERS = ("Credential", "Signature", "SignedHeaders")


class AuthError(BatchformError):
    """A call refused before it ran: not authenticated, or not allowed; AWS's code and status."""

    def __init__(self, aws_type: str, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.aws_type = aws_type
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request as it arrived: ``path`` and ``query`` still percent-encoded, header names
    lower-case (as ASGI gives them), the whole body."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, slots=True)
class Credential:
    """What an Authorization header claims: who signed, the scope, which headers, the signature."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def verify(
    request: SignedRequest, keys: Mapping[str, AccessKey], *, service: str, now: datetime
) -> tuple[AccessKey, Credential]:
    """The key that signed ``request`` for ``service`` and its credential, or :class:`AuthError`."""
    authorization = request.header("authorization")
    if authorization is None:
        raise AuthError(MISSING_AUTHENTICATION_TOKEN, MISSING_TOKEN_MESSAGE, 403)
    amz_date = request.header("x-amz-date")
    credential = parse_authorization(authorization, has_date=amz_date is not None)
    assert amz_date is not None  # parse_authorization refuses a header without a date
    signed_at = _signing_time(amz_date)
    if request.header("x-amz-security-token") is not None:
        raise AuthError(UNRECOGNIZED_CLIENT, INVALID_TOKEN_MESSAGE)
    if credential.service != service:
        raise AuthError(
            INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{service}'. "
        )
    key = keys.get(credential.access_key_id)
    if key is None:
        raise AuthError(UNRECOGNIZED_CLIENT, INVALID_TOKEN_MESSAGE)
    _check_clock(signed_at, now)
    _check_payload_hash(request)
    expected = expected_signature(request, credential, key.secret_access_key, amz_date)
    if not hmac.compare_digest(expected.encode(), credential.signature.encode("utf-8", "replace")):
        raise AuthError(INVALID_SIGNATURE, SIGNATURE_MISMATCH_MESSAGE)
    return key, credential


def parse_authorization(header: str, *, has_date: bool) -> Credential:
    """The parts of ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``."""
    algorithm, _, rest = header.strip().partition(" ")
    parameters: dict[str, str] = {}
    if algorithm == ALGORITHM:
        # AWS splits at commas and white space: a stray space inside a value breaks it in two.
        for part in (piece for piece in re.split(r"[,\s]+", rest) if piece):
            name, sep, value = part.partition("=")
            if not sep:
                raise AuthError(
                    INCOMPLETE_SIGNATURE,
                    f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization "
                    f"header: '{header}'.",
                )
            parameters[name] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in _REQUIRED_PARAMETERS
        if not parameters.get(name)
    ]
    if not has_date:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing:
        raise AuthError(INCOMPLETE_SIGNATURE, " ".join([*missing, f"Authorization={header}"]))
    return _credential(parameters)


def expected_signature(
    request: SignedRequest, credential: Credential, secret: str, amz_date: str
) -> str:
    """The signature of ``request`` under ``secret``, as botocore's signer computes it."""
    # Decoded, then re-encoded strictly by botocore: a client may encode more or less than the
    # canonical form (botocore's own requests put a space as "+"), the signature covers that form.
    pairs = [
        (unquote_plus(name), unquote_plus(value))
        for name, _, value in (pair.partition("=") for pair in request.query.split("&") if pair)
    ]
    aws_request = AWSRequest(
        method=request.method, url="http://batchform" + (request.path or "/"), data=request.body
    )
    # botocore canonicalises a list of pairs as well as a dict (the stubs say dict): a list
    # keeps a repeated query parameter, as the client signed it.
    aws_request.params = pairs  # type: ignore[assignment]
    for name in credential.signed_headers:
        for value in request.header_values(name):
            aws_request.headers[name] = value  # (adds: HTTPHeaders keeps repeated headers)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(credential.access_key_id, secret), credential.service, credential.region
    )
    canonical_request = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical_request), aws_request)


def _credential(parameters: Mapping[str, str]) -> Credential:
    scope = parameters["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            "The authorization header is malformed; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        )
    signed_headers = tuple(parameters["SignedHeaders"].lower().split(";"))
    if "host" not in signed_headers:
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    key_id, date, region, service, _ = scope
    return Credential(key_id, date, region, service, signed_headers, parameters["Signature"])


def _signing_time(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            INCOMPLETE_SIGNATURE,
            f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got "
            f"'{amz_date}'",
        ) from None


def _check_clock(signed_at: datetime, now: datetime) -> None:
    """AWS's window: a signature dated more than 15 minutes from the server's clock is refused."""
    now = now.replace(microsecond=0)
    if signed_at < now - CLOCK_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature expired: {_stamp(signed_at)} is now earlier than "
            f"{_stamp(now - CLOCK_SKEW)} ({_stamp(now)} - 15 min.)",
        )
    if signed_at > now + CLOCK_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature not yet current: {_stamp(signed_at)} is still later than "
            f"{_stamp(now + CLOCK_SKEW)} ({_stamp(now)} + 15 min.)",
        )


def _check_payload_hash(request: SignedRequest) -> None:
    """A client may name its body's hash in ``X-Amz-Content-SHA256``, and botocore's signer then
    signs that value instead of hashing the body: so the value must be the body's hash, or a
    signed request could carry any body (``UNSIGNED-PAYLOAD`` is refused the same way)."""
    claimed = request.header("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(request.body).hexdigest():
        raise AuthError(
            INVALID_SIGNATURE,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )


def _stamp(when: datetime) -> str:
    return when.strftime(AMZ_DATE_FORMAT)
