"""Resource names and ARNs (docs/semantics.md, "Names and ARNs").

SageMaker ARNs carry the resource name lower-cased, while ``ModelName`` and
``TransformJobName`` are kept exactly as given; so names are unique case-insensitively, and the
store keys its rows by :func:`name_key`.
"""

from __future__ import annotations


def name_key(name: str) -> str:
    """The case-insensitive identity of a model or job name (what uniqueness is decided on)."""
    return name.lower()


def model_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:model/<name lower-cased>``."""
    return _arn(region, account, "model", name)


def transform_job_arn(region: str, account: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:transform-job/<name lower-cased>``."""
    return _arn(region, account, "transform-job", name)


def _arn(region: str, account: str, resource_type: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{resource_type}/{name_key(name)}"
