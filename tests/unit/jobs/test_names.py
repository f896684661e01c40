"""ARNs and name keys (docs/semantics.md, "Names and ARNs")."""

from __future__ import annotations

from batchform.jobs.names import model_arn, name_key, transform_job_arn


def test_arns_carry_the_name_lower_cased() -> None:
    assert model_arn("us-west-2", "111122223333", "Churn-Model") == (
        "arn:aws:sagemaker:us-west-2:111122223333:model/churn-model"
    )
    assert transform_job_arn("eu-west-1", "123456789012", "Nightly-Scoring-2024") == (
        "arn:aws:sagemaker:eu-west-1:123456789012:transform-job/nightly-scoring-2024"
    )


def test_names_differing_in_case_share_a_key() -> None:
    assert name_key("Daily-Job") == name_key("daily-JOB") == "daily-job"
    assert name_key("daily-job-2") != name_key("daily-job")
