"""Who is calling, and may they: the API's door when access keys are configured.

Every SageMaker call, every CloudWatch Logs call and every ``GET /batchform/jobs/…`` must carry
an AWS Signature Version 4 by a known key (:mod:`batchform.api.sigv4`), and the key's patterns
(:mod:`batchform.auth.permissions`) must allow the call's action:

* ``X-Amz-Target: SageMaker.<Op>`` is ``sagemaker:<Op>``, signed for the ``sagemaker`` service;
* ``X-Amz-Target: Logs_20140328.<Op>`` is ``logs:<Op>``, signed for ``logs``;
* ``GET /batchform/jobs/<name>/progress`` and ``…/objects`` are ``sagemaker:DescribeTransformJob``
  on the job, and ``…/logs`` is ``logs:GetLogEvents`` on the job kind's log group, all signed for
  ``sagemaker``: the same permissions the SDK needs to describe a job and print its log.

A refused action is ``AccessDeniedException`` (400, as SageMaker's JSON protocol answers it) in
IAM's words, naming the key's name as the user and the resource's ARN. ``/healthz`` stays open.

The dashboard signs in with a key pair instead of signing each call: :meth:`Guard.sign_in`
checks the pair, :meth:`Guard.current` tells whether its session's key still stands, and
:meth:`Guard.denial` checks each of its actions with the same patterns and the same words.

Auth is on once any key is configured (the keys file or ``BATCHFORM_ACCESS_KEYS``) and then stays
on: revoking the last key refuses every call rather than opening the door again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from starlette.requests import Request

from batchform.api.log_sources import AUTOML_JOBS_GROUP, TRANSFORM_JOBS_GROUP
from batchform.api.protocol import LOGS_TARGET_PREFIX, TARGET_PREFIX, read_raw_body
from batchform.api.sigv4 import AuthError, SignedRequest, verify
from batchform.auth.keyring import Keyring
from batchform.auth.keys import AccessKey
from batchform.jobs.names import automl_job_arn, model_arn, transform_job_arn

logger = logging.getLogger(__name__)

# The account in every ARN the server makes (JobService's default): users are named in it too.
DEFAULT_ACCOUNT = "123456789012"
# The region named in the dashboard's refusals: it signs nothing, and the service's is this one.
DEFAULT_REGION = "us-east-1"
ACCESS_DENIED = "AccessDeniedException"

# X-Amz-Target prefix → the service a call is signed for, which is also its actions' prefix
SIGNING_NAMES: Mapping[str, str] = MappingProxyType(
    {TARGET_PREFIX: "sagemaker", LOGS_TARGET_PREFIX: "logs"}
)
# The request members that name a SageMaker call's resource, with the ARN each one makes.
_NAMED_RESOURCES: Mapping[str, Callable[[str, str, str], str]] = MappingProxyType(
    {
        "ModelName": model_arn,
        "TransformJobName": transform_job_arn,
        "AutoMLJobName": automl_job_arn,
    }
)
_LOG_GROUPS_BY_KIND = MappingProxyType(
    {"transform": TRANSFORM_JOBS_GROUP, "automl": AUTOML_JOBS_GROUP}
)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: the key it signed with, and the region it signed for."""

    key: AccessKey
    region: str


class Guard:
    """Authenticates and authorises calls against a :class:`Keyring`; with none, lets all in."""

    def __init__(
        self,
        keyring: Keyring | None,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keyring = keyring
        self._account = account
        self._region = region
        self._clock = clock
        self._on = False

    @property
    def active(self) -> bool:
        """Whether calls must be signed: once a key is configured, for the server's life."""
        if not self._on and self._keyring is not None:
            self._on = bool(self._keyring.keys())
        return self._on

    async def authenticate(
        self, request: Request, service: str
    ) -> tuple[Caller | None, bytes | None]:
        """Read the body and check the signature; ``(None, None)`` while auth is off, so the body
        is read as it always was."""
        if not self.active:
            return None, None
        assert self._keyring is not None
        body = await read_raw_body(request)
        try:
            key, credential = verify(
                signed_request(request, body), self._keyring.keys(),
                service=service, now=self._clock(),
            )  # fmt: skip
        except AuthError as exc:
            logger.info("refused %s %s: %s", request.method, request.url.path, exc.aws_type)
            raise
        return Caller(key, credential.region), body

    def authorize_call(self, caller: Caller | None, prefix: str, operation: str, body: Any) -> None:
        """Refuse ``<prefix><operation>`` unless ``caller``'s key allows it."""
        if caller is None:
            return
        service = SIGNING_NAMES[prefix]
        resource = self._resource(service, caller.region, body)
        self._authorize(caller.key, f"{service}:{operation}", resource)

    async def check_job_endpoint(self, request: Request) -> None:
        """Authenticate and authorise a ``GET /batchform/jobs/<name>/<what>``."""
        caller, _ = await self.authenticate(request, SIGNING_NAMES[TARGET_PREFIX])
        if caller is None:
            return
        name = str(request.path_params["name"])
        if request.url.path.endswith("/logs"):
            group = _LOG_GROUPS_BY_KIND.get(request.query_params.get("kind") or "transform")
            resource = self._log_group_arn(caller.region, group or TRANSFORM_JOBS_GROUP)
            self._authorize(caller.key, "logs:GetLogEvents", resource)
        else:
            resource = transform_job_arn(caller.region, self._account, name)
            self._authorize(caller.key, "sagemaker:DescribeTransformJob", resource)

    # --- the dashboard's sign-in: a key pair typed in, then actions checked as that key -----

    def sign_in(self, access_key_id: str, secret: str) -> AccessKey | None:
        """The key whose id and secret these are, or None (see :meth:`Keyring.authenticate`)."""
        if self._keyring is None:
            return None
        return self._keyring.authenticate(access_key_id, secret)

    def current(self, key: AccessKey) -> AccessKey | None:
        """``key`` as the keys file has it now, or None once revoked."""
        return self._keyring.current(key) if self._keyring is not None else None

    def denial(self, key: AccessKey, action: str, request: Mapping[str, Any]) -> str | None:
        """IAM's AccessDenied message if ``key`` may not perform ``action``
        (``sagemaker:StopTransformJob``) on what ``request`` names (the API call's members,
        e.g. ``TransformJobName``), as the API would refuse it; None when allowed."""
        if key.permits(action):
            return None
        service = action.partition(":")[0]
        resource = self._resource(service, self._region, request)
        return self._denied(key, action, resource)

    def _authorize(self, key: AccessKey, action: str, resource: str) -> None:
        if key.permits(action):
            return
        logger.info("refused %s to %s (access key %s)", action, self._user(key), key.access_key_id)
        raise AuthError(ACCESS_DENIED, self._denied(key, action, resource))

    def _user(self, key: AccessKey) -> str:
        return f"arn:aws:iam::{self._account}:user/{key.name}"

    def _denied(self, key: AccessKey, action: str, resource: str) -> str:
        user = self._user(key)
        return (
            f"User: {user} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )

    def _resource(self, service: str, region: str, body: Any) -> str:
        if service == "logs":
            return self._log_group_arn(region, _log_group(body))
        return self._sagemaker_resource(region, body)

    def _sagemaker_resource(self, region: str, body: Any) -> str:
        """The ARN a SageMaker call acts on: its named model or job, the ARN it names (tags),
        else every resource of the account (List* calls)."""
        if isinstance(body, Mapping):
            for member, arn in _NAMED_RESOURCES.items():
                if isinstance(body.get(member), str):
                    return arn(region, self._account, body[member])
            if isinstance(body.get("ResourceArn"), str):
                return str(body["ResourceArn"])
        return f"arn:aws:sagemaker:{region}:{self._account}:*"

    def _log_group_arn(self, region: str, group: str | None) -> str:
        if group and group.startswith("arn:"):
            return group
        return f"arn:aws:logs:{region}:{self._account}:log-group:{group or '*'}"


def signed_request(request: Request, body: bytes) -> SignedRequest:
    """What the signature covers, exactly as it arrived: the raw path and query, every header."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    return SignedRequest(
        method=request.method,
        path=path,
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.scope["headers"]
        ),
        body=body,
    )


def _log_group(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    group = body.get("logGroupName") or body.get("logGroupIdentifier")
    return group if isinstance(group, str) else None
