"""The Autopilot "batch inferencing" guide, step by step, against a real server with S3 on moto:
CreateAutoMLJobV2 → wait → BestCandidate.InferenceContainers → CreateModel(Containers=…) →
CreateTransformJob on headerless CSV → one original label per input line, in order."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_aws_cli_and_sdk import aws

BUCKET = "automl"
ROLE = "arn:aws:iam::123456789012:role/automl"
TRAIN_ROWS, TEST_ROWS = 400, 60
DEADLINE_S = 300.0


def churn_rows(count: int, seed: int) -> list[list[str]]:
    """Mixed columns with blanks; the label (yes/no) depends on minutes, plan and calls."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        minutes = rng.uniform(0, 300)
        plan = rng.choice(["basic", "plus", "pro"])
        calls = rng.randint(0, 9)
        since = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        score = minutes / 100 + (1.5 if plan == "basic" else 0) + calls / 3 + rng.gauss(0, 0.4)
        shown = "" if rng.random() < 0.05 else f"{minutes:.1f}"
        rows.append([shown, plan, str(calls), since, "yes" if score > 3.2 else "no"])
    return rows


def to_csv(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


HEADER = ["minutes", "plan", "calls", "since", "churn"]


@pytest.fixture
def data(s3: Any) -> list[list[str]]:
    """Training data with a header under s3://automl/train/, test features (no target, no
    header) under s3://automl/test/; returns the test rows with their true labels."""
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(
        Bucket=BUCKET, Key="train/churn.csv", Body=to_csv(churn_rows(TRAIN_ROWS, 1), HEADER)
    )
    test = churn_rows(TEST_ROWS, 2)
    s3.put_object(Bucket=BUCKET, Key="test/churn_x.csv", Body=to_csv([r[:-1] for r in test]))
    return test


def automl_request(name: str, **tabular: Any) -> dict[str, Any]:
    return {
        "AutoMLJobName": name,
        "AutoMLJobInputDataConfig": [
            {
                "ChannelType": "training",
                "ContentType": "text/csv;header=present",
                "CompressionType": "None",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output/"},
        "AutoMLProblemTypeConfig": {
            "TabularJobConfig": {"TargetAttributeName": "churn", **tabular}
        },
        "RoleArn": ROLE,
    }


def wait_for_automl(sm: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        job = sm.describe_auto_ml_job_v2(AutoMLJobName=name)
        if job["AutoMLJobStatus"] in ("Completed", "Failed", "Stopped"):
            return dict(job)
        time.sleep(1)
    raise AssertionError(f"{name} did not end within {DEADLINE_S}s")


def transform(sm: Any, s3: Any, model: str, job: str) -> list[str]:
    """CreateTransformJob as the guide shows; the output lines."""
    sm.create_transform_job(
        TransformJobName=job,
        ModelName=model,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/test/"}},
            "ContentType": "text/csv",
            "CompressionType": "None",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{job}/", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    )  # fmt: skip
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    described = sm.describe_transform_job(TransformJobName=job)
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    body: bytes = s3.get_object(Bucket=BUCKET, Key=f"{job}/churn_x.csv.out")["Body"].read()
    return body.decode().splitlines()


def test_hpo_classification_best_candidate_runs_as_a_three_container_model(
    server: Server, s3: Any, data: list[list[str]]
) -> None:
    sm = server.client()
    request = automl_request(
        "churn-hpo", Mode="HYPERPARAMETER_TUNING", CompletionCriteria={"MaxCandidates": 3}
    )
    sm.create_auto_ml_job_v2(**request)
    job = wait_for_automl(sm, "churn-hpo")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AutoMLJobSecondaryStatus"] in ("MaxCandidatesReached", "Completed")
    resolved = job["ResolvedAttributes"]
    assert resolved["AutoMLProblemTypeResolvedAttributes"]["TabularResolvedAttributes"] == {
        "ProblemType": "BinaryClassification"
    }
    assert resolved["AutoMLJobObjective"] == {"MetricName": "F1"}
    best = job["BestCandidate"]
    containers = best["InferenceContainers"]
    assert len(containers) == 3
    assert best["InferenceContainerDefinitions"] == {"CPU": containers}
    assert "sagemaker-sklearn-automl" in containers[0]["Image"]
    assert containers[0]["Environment"]["AUTOML_TRANSFORM_MODE"] == "feature-transform"
    assert "sagemaker-xgboost" in containers[1]["Image"]
    assert containers[2]["ModelDataUrl"] == containers[0]["ModelDataUrl"]
    candidates = sm.list_candidates_for_auto_ml_job(AutoMLJobName="churn-hpo")["Candidates"]
    assert len(candidates) == 3
    assert len(f"{best['CandidateName']}-transform-job") <= 63

    sm.create_model(ModelName="churn-best", Containers=containers, ExecutionRoleArn=ROLE)
    lines = transform(sm, s3, "churn-best", f"{best['CandidateName']}-transform-job")
    assert len(lines) == TEST_ROWS
    assert set(lines) <= {"yes", "no"}
    truth = [row[-1] for row in data]
    accuracy = sum(p == t for p, t in zip(lines, truth, strict=True)) / TEST_ROWS
    assert accuracy >= 0.7, accuracy

    # The guide's way to get probabilities: edit the environment before CreateModel.
    keys = "predicted_label,probability,probabilities,labels"
    containers[1]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = (
        "predicted_label,probability,probabilities"
    )
    containers[2]["Environment"]["SAGEMAKER_INFERENCE_INPUT"] = (
        "predicted_label,probability,probabilities"
    )
    containers[2]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = keys
    sm.create_model(ModelName="churn-probs", Containers=containers, ExecutionRoleArn=ROLE)
    rows = list(csv.reader(transform(sm, s3, "churn-probs", "churn-probs-job")))
    assert [row[0] for row in rows] == lines
    for label, probability, probabilities, labels in rows:
        assert labels == "['no', 'yes']"
        p_yes = float(probability)  # HPO: the probability of the positive (second) class
        assert (label == "yes") == (p_yes > 0.5)
        assert (
            probabilities.startswith("[")
            and abs(sum(map(float, probabilities[1:-1].split(","))) - 1) < 1e-5
        )


def test_regression_gives_two_containers_and_ensembling_one(
    server: Server, s3: Any, data: list[list[str]]
) -> None:
    sm = server.client()
    regression = automl_request(
        "calls-hpo", Mode="HYPERPARAMETER_TUNING", CompletionCriteria={"MaxCandidates": 2}
    )
    regression["AutoMLProblemTypeConfig"]["TabularJobConfig"].update(
        TargetAttributeName="calls", ProblemType="Regression"
    )
    regression["AutoMLJobObjective"] = {"MetricName": "MSE"}  # both given, or neither
    sm.create_auto_ml_job_v2(**regression)
    sm.create_auto_ml_job_v2(
        **automl_request("churn-ens", Mode="ENSEMBLING", CompletionCriteria={"MaxCandidates": 2})
    )
    reg = wait_for_automl(sm, "calls-hpo")
    ens = wait_for_automl(sm, "churn-ens")
    assert reg["AutoMLJobStatus"] == "Completed", reg.get("FailureReason")
    assert reg["ResolvedAttributes"]["AutoMLJobObjective"] == {"MetricName": "MSE"}
    assert len(reg["BestCandidate"]["InferenceContainers"]) == 2
    assert ens["AutoMLJobStatus"] == "Completed", ens.get("FailureReason")
    [container] = ens["BestCandidate"]["InferenceContainers"]
    container["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = "predicted_label,probability"
    sm.create_model(ModelName="churn-ens", Containers=[container], ExecutionRoleArn=ROLE)
    rows = list(csv.reader(transform(sm, s3, "churn-ens", "churn-ens-job")))
    assert len(rows) == TEST_ROWS
    assert {label for label, _ in rows} <= {"yes", "no"}
    # probability is the predicted label's, and the labels cut P(yes) at one threshold (the
    # candidate's, calibrated for F1: not necessarily 0.5)
    p_yes = [float(p) if label == "yes" else 1.0 - float(p) for label, p in rows]
    yes = [p for (label, _), p in zip(rows, p_yes, strict=True) if label == "yes"]
    no = [p for (label, _), p in zip(rows, p_yes, strict=True) if label == "no"]
    assert all(0.0 <= p <= 1.0 for p in p_yes)
    assert max(no, default=0.0) <= min(yes, default=1.0)


def candidates_of(sm: Any, name: str) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_candidates_for_auto_ml_job").paginate(AutoMLJobName=name)
    return [c for page in pages for c in page["Candidates"]]


def wait_candidates(sm: Any, name: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = candidates_of(sm, name)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{name}: fewer than {count} candidates within {DEADLINE_S}s")


def test_stop_ends_training_within_seconds_and_keeps_the_best_candidate(
    server: Server, s3: Any, data: list[list[str]]
) -> None:
    sm = server.client()
    many = {"MaxCandidates": 200}
    sm.create_auto_ml_job_v2(
        **automl_request("halted", Mode="HYPERPARAMETER_TUNING", CompletionCriteria=many)
    )
    wait_candidates(sm, "halted", 1)
    sm.stop_auto_ml_job(AutoMLJobName="halted")
    job = wait_for_automl(sm, "halted")
    assert (job["AutoMLJobStatus"], job["AutoMLJobSecondaryStatus"]) == ("Stopped", "Stopped")
    finished = candidates_of(sm, "halted")
    assert 1 <= len(finished) < 200
    assert job["BestCandidate"]["CandidateName"] in {c["CandidateName"] for c in finished}


def test_a_server_killed_mid_training_resumes_and_keeps_finished_candidates(
    server: Server, s3: Any, data: list[list[str]]
) -> None:
    sm = server.client()
    criteria = {"MaxCandidates": 6}
    sm.create_auto_ml_job_v2(
        **automl_request("survivor", Mode="HYPERPARAMETER_TUNING", CompletionCriteria=criteria)
    )
    before = {c["CandidateName"]: c for c in wait_candidates(sm, "survivor", 2)}
    server.kill()
    server.start()  # same home: it takes its jobs back at once
    job = wait_for_automl(server.client(), "survivor")
    assert job["AutoMLJobStatus"] == "Completed", job.get("FailureReason")
    after = {c["CandidateName"]: c for c in candidates_of(server.client(), "survivor")}
    assert len(after) == 6
    for name, candidate in before.items():  # kept as they were, not trained again
        assert after[name]["CreationTime"] == candidate["CreationTime"]
        assert (
            after[name]["FinalAutoMLJobObjectiveMetric"]
            == candidate["FinalAutoMLJobObjectiveMetric"]
        )


ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"


def test_the_guides_aws_cli_steps_with_the_documented_containers_json(
    server: Server, s3: Any, data: list[list[str]], tmp_path: Path
) -> None:
    """describe-auto-ml-job-v2 → the 3-container JSON of the guide, our URIs substituted →
    create-model --containers → create-transform-job."""
    request = automl_request(
        "cli-churn", Mode="HYPERPARAMETER_TUNING", CompletionCriteria={"MaxCandidates": 2}
    )
    (tmp_path / "automl.json").write_text(json.dumps(request))
    aws(server, "create-auto-ml-job-v2", "--cli-input-json", f"file://{tmp_path / 'automl.json'}")
    wait_for_automl(server.client(), "cli-churn")
    best = aws(server, "describe-auto-ml-job-v2", "--auto-ml-job-name", "cli-churn")[
        "BestCandidate"
    ]
    ours = best["InferenceContainers"]
    documented = [  # the guide's example, with our ModelDataUrls in place of its S3 paths
        {
            "Image": f"{ECR}/sagemaker-sklearn-automl:2.5-1-cpu-py3",
            "ModelDataUrl": ours[0]["ModelDataUrl"],
            "Environment": {
                "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
                "AUTOML_TRANSFORM_MODE": "feature-transform",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-recordio-protobuf",
                "SAGEMAKER_PROGRAM": "sagemaker_serve",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        },
        {
            "Image": f"{ECR}/sagemaker-xgboost:1.3-1-cpu-py3",
            "ModelDataUrl": ours[1]["ModelDataUrl"],
            "Environment": {
                "MAX_CONTENT_LENGTH": "20971520",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
                "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
            },
        },
        {
            "Image": f"{ECR}/sagemaker-sklearn-automl:2.5-1-cpu-py3",
            "ModelDataUrl": ours[0]["ModelDataUrl"],
            "Environment": {
                "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
                "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
                "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,labels,probabilities",
                "SAGEMAKER_PROGRAM": "sagemaker_serve",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        },
    ]
    assert [c["Environment"] for c in ours] == [c["Environment"] for c in documented]
    (tmp_path / "containers.json").write_text(json.dumps(documented))
    aws(
        server, "create-model", "--model-name", "cli-churn-model",
        "--containers", f"file://{tmp_path / 'containers.json'}", "--execution-role-arn", ROLE,
    )  # fmt: skip
    lines = transform(server.client(), s3, "cli-churn-model", "cli-churn-transform")
    assert len(lines) == TEST_ROWS and set(lines) <= {"yes", "no"}


def test_the_sagemaker_sdk_automl_attach_create_model_and_transformer(
    server: Server, s3: Any, data: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    from sagemaker.automl.automl import AutoML
    from sagemaker.session import Session

    sm = server.client()
    session = Session(
        boto_session=boto3.session.Session(region_name="us-east-1"), sagemaker_client=sm
    )
    automl = AutoML(
        role=ROLE, target_attribute_name="churn", sagemaker_session=session,
        output_path=f"s3://{BUCKET}/sdk-output/", max_candidates=2, mode="HYPERPARAMETER_TUNING",
        problem_type="BinaryClassification", job_objective={"MetricName": "F1"},
    )  # fmt: skip
    automl.fit(inputs=f"s3://{BUCKET}/train/", job_name="sdk-churn", wait=True, logs=False)
    attached = AutoML.attach(auto_ml_job_name="sdk-churn", sagemaker_session=session)  # type: ignore[no-untyped-call]
    best = attached.best_candidate()
    assert (
        best["CandidateName"] == attached.describe_auto_ml_job()["BestCandidate"]["CandidateName"]
    )
    assert len(attached.list_candidates()) == 2
    model = attached.create_model(
        name="sdk-churn-model", sagemaker_session=session,
        inference_response_keys=["predicted_label", "probability", "labels"],
    )  # fmt: skip
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.large", assemble_with="Line",
        output_path=f"s3://{BUCKET}/sdk-out/", accept="text/csv",
    )  # fmt: skip
    transformer.transform(
        f"s3://{BUCKET}/test/", content_type="text/csv", split_type="Line", wait=True, logs=False
    )
    body = s3.get_object(Bucket=BUCKET, Key="sdk-out/churn_x.csv.out")["Body"].read().decode()
    rows = list(csv.reader(body.splitlines()))
    assert len(rows) == TEST_ROWS
    assert all(label in ("yes", "no") and labels == "['no', 'yes']" for label, _, labels in rows)


def test_the_sagemaker_sdk_automlv2_with_a_tabular_config(
    server: Server, s3: Any, data: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    from sagemaker.automl.automlv2 import AutoMLDataChannel, AutoMLTabularConfig, AutoMLV2
    from sagemaker.session import Session

    sm = server.client()
    session = Session(
        boto_session=boto3.session.Session(region_name="us-east-1"), sagemaker_client=sm
    )
    automl: Any = AutoMLV2(
        problem_config=AutoMLTabularConfig(
            target_attribute_name="churn", mode="ENSEMBLING", max_candidates=2
        ),
        role=ROLE, output_path=f"s3://{BUCKET}/sdk-v2/", sagemaker_session=session,
    )  # fmt: skip
    channel = AutoMLDataChannel(
        s3_data_type="S3Prefix", s3_uri=f"s3://{BUCKET}/train/", channel_type="training"
    )
    # The SDK's defaults (wait=True, logs=True: it polls DescribeAutoMLJobV2); its
    # logs=False path calls wait_for_auto_ml_job with a wrong keyword (SDK 2.257).
    automl.fit(inputs=[channel], job_name="sdk-v2-churn")
    described = automl.describe_auto_ml_job()
    assert described["AutoMLJobStatus"] == "Completed", described.get("FailureReason")
    assert described["AutoMLProblemTypeConfigName"] == "Tabular"
    best = automl.best_candidate()
    assert len(best["InferenceContainers"]) == 1
    model = automl.create_model(
        name="sdk-v2-model",
        candidate=best,
        inference_response_keys=["predicted_label", "probability"],
    )
    transformer = model.transformer(
        instance_count=1, instance_type="ml.m5.large", assemble_with="Line",
        output_path=f"s3://{BUCKET}/sdk-v2-out/", accept="text/csv",
    )  # fmt: skip
    test = f"s3://{BUCKET}/test/"
    transformer.transform(test, content_type="text/csv", split_type="Line", wait=True, logs=False)
    body = s3.get_object(Bucket=BUCKET, Key="sdk-v2-out/churn_x.csv.out")["Body"].read().decode()
    rows = list(csv.reader(body.splitlines()))
    assert len(rows) == TEST_ROWS and all(label in ("yes", "no") for label, _ in rows)
