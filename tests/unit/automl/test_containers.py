"""InferenceContainers exactly as Autopilot's (docs: autopilot.md §2.1), per mode and problem."""

from __future__ import annotations

import pytest

from batchform.automl.containers import ensemble_containers, hpo_containers, image_uri
from batchform.models.registry import resolve_image

DPP = "s3://b/out/job/data-processor-models/job-dpp0-1-abc/output/model.tar.gz"
XGB = "s3://b/out/job/tuning/job-dpp0-xgb/cand/output/model.tar.gz"
ENS = "s3://b/out/job/ensemble/cand/output/model.tar.gz"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-sklearn-automl:2.5-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

# The §2.1 table, written out: the documented 3-container HPO classification pipeline.
FEATURE_TRANSFORM = {
    "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
    "AUTOML_TRANSFORM_MODE": "feature-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-recordio-protobuf",
    "SAGEMAKER_PROGRAM": "sagemaker_serve",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}
ALGORITHM = {
    "MAX_CONTENT_LENGTH": "20971520",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
}
INVERSE_LABEL = {
    "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,labels,probabilities",
    "SAGEMAKER_PROGRAM": "sagemaker_serve",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
}


@pytest.mark.parametrize("problem_type", ["BinaryClassification", "MulticlassClassification"])
def test_hpo_classification_is_the_documented_pipeline(problem_type: str) -> None:
    assert hpo_containers(problem_type, DPP, XGB, "us-east-1") == [
        {"Image": SKLEARN, "ModelDataUrl": DPP, "Environment": FEATURE_TRANSFORM},
        {"Image": XGBOOST, "ModelDataUrl": XGB, "Environment": ALGORITHM},
        {"Image": SKLEARN, "ModelDataUrl": DPP, "Environment": INVERSE_LABEL},
    ]


def test_hpo_regression_has_two_containers() -> None:
    assert hpo_containers("Regression", DPP, XGB, "us-east-1") == [
        {"Image": SKLEARN, "ModelDataUrl": DPP, "Environment": FEATURE_TRANSFORM},
        {
            "Image": XGBOOST,
            "ModelDataUrl": XGB,
            "Environment": {
                "MAX_CONTENT_LENGTH": "20971520",
                "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
            },
        },
    ]


def test_ensembling_has_one_container() -> None:
    common = {
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
        "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
        "SAGEMAKER_PROGRAM": "sagemaker_serve",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    supported = "predicted_label,probability,probabilities,labels"
    assert ensemble_containers("BinaryClassification", ENS, "us-east-1") == [
        {
            "Image": SKLEARN,
            "ModelDataUrl": ENS,
            "Environment": {**common, "SAGEMAKER_INFERENCE_SUPPORTED": supported},
        }
    ]
    [regression] = ensemble_containers("Regression", ENS, "us-east-1")
    assert regression["Environment"] == {
        **common,
        "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label",
    }


def test_environments_are_fresh_copies() -> None:
    # Users edit Environment before CreateModel (§2.3); that must not leak into other candidates.
    first = hpo_containers("BinaryClassification", DPP, XGB, "us-east-1")
    first[1]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] = "predicted_label,probabilities"
    second = hpo_containers("BinaryClassification", DPP, XGB, "us-east-1")
    assert second[1]["Environment"]["SAGEMAKER_INFERENCE_OUTPUT"] == "predicted_label"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west-1", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        ("cn-north-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1"),
        ("xx-nowhere-9", "683313688378.dkr.ecr.xx-nowhere-9.amazonaws.com/sagemaker-xgboost:1.7-1"),
    ],
)
def test_images_by_region(region: str, expected: str) -> None:
    assert image_uri("sagemaker-xgboost", "1.7-1", region) == expected


def test_images_resolve_to_built_in_runtimes() -> None:
    [features, algorithm, labels] = hpo_containers("BinaryClassification", DPP, XGB, "eu-west-1")
    assert resolve_image(features["Image"]) == "sklearn-automl"
    assert resolve_image(algorithm["Image"]) == "xgboost"
    assert resolve_image(labels["Image"]) == "sklearn-automl"
