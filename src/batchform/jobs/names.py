"""Resource names and ARNs (docs/semantics.md, "Names and ARNs").

SageMaker ARNs carry the resource name lower-cased, while ``ModelName``, ``TransformJobName``
and ``AutoMLJobName`` are kept exactly as given; so names are unique case-insensitively, and the
store keys its rows by :func:`name_key`. Each kind of job has its own name space, as on the
service: the store keys a job by :func:`job_key`, its kind and name.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """The kinds of job the store holds and the scheduler runs."""

    TRANSFORM = "transform"
    AUTOML = "automl"


def name_key(name: str) -> str:
    """The case-insensitive identity of a model or job name (what uniqueness is decided on)."""
    return name.lower()


def job_key(kind: JobKind, name: str) -> str:
    """A job's row key: the name key, led by ``<kind>/`` for every kind but transform jobs
    (whose rows predate kinds). ``/`` cannot occur in a name, so the kinds never collide."""
    key = name_key(name)
    return key if kind is JobKind.TRANSFORM else f"{kind.value}/{key}"


def model_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:model/<name lower-cased>``."""
    return _arn(region, account, "model", name)


def transform_job_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:transform-job/<name lower-cased>``."""
    return _arn(region, account, "transform-job", name)


def automl_job_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:automl-job/<name lower-cased>``."""
    return _arn(region, account, "automl-job", name)


def _arn(region: str, account: str, resource_type: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{resource_type}/{name_key(name)}"
