"""The inference containers of a candidate: ``AutoMLCandidate.InferenceContainers``.

Exactly Autopilot's container sets (docs: autopilot.md §2.1), so the list goes verbatim into
``CreateModel.Containers`` and batch transforms behave as they do on SageMaker:

* HYPERPARAMETER_TUNING, classification — 3 containers: the data processor in
  ``feature-transform`` mode (sparse recordio-protobuf out), XGBoost (``predicted_label``,
  selectable ``probability``/``probabilities``), the data processor again in
  ``inverse-label-transform`` mode (codes back to the original labels; also ``labels``).
* HYPERPARAMETER_TUNING, regression — 2 containers: feature-transform, XGBoost's score.
* ENSEMBLING — 1 container: the ensemble in the ``sagemaker-sklearn-automl`` image. For
  regression it offers ``predicted_label`` only (the number), a choice of ours: Autopilot does
  not document that container's environment, and a single key keeps the SageMaker SDK's
  ``create_model(inference_response_keys=...)`` check meaningful.

Images are the SageMaker ECR URIs of the job's region; batchform's image registry maps them to
its built-in runtimes by repository name, in any account and region.
"""

from __future__ import annotations

from typing import Any

from batchform.automl.spec import DEFAULT_REGION, REGRESSION

SKLEARN_AUTOML_REPOSITORY = "sagemaker-sklearn-automl"
SKLEARN_AUTOML_TAG = "2.5-1-cpu-py3"
XGBOOST_REPOSITORY = "sagemaker-xgboost"
XGBOOST_TAG = "1.7-1"

# SageMaker's first-party framework image accounts (sklearn, xgboost), by region; from the
# SageMaker Python SDK's image_uri_config. Unknown regions use us-east-1's.
ECR_ACCOUNTS: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

SERVE = {"SAGEMAKER_PROGRAM": "sagemaker_serve", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
FEATURE_TRANSFORM_ENV = {
    "AUTOML_SPARSE_ENCODE_RECORDIO_PROTOBUF": "1",
    "AUTOML_TRANSFORM_MODE": "feature-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/x-recordio-protobuf",
    **SERVE,
}
XGBOOST_CLASSIFIER_ENV = {
    "MAX_CONTENT_LENGTH": "20971520",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities",
}
XGBOOST_REGRESSOR_ENV = {
    "MAX_CONTENT_LENGTH": "20971520",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
}
INVERSE_LABEL_ENV = {
    "AUTOML_TRANSFORM_MODE": "inverse-label-transform",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_INPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,labels,probabilities",
    **SERVE,
}
ENSEMBLE_CLASSIFIER_ENV = {
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
    "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label",
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,probabilities,labels",
    **SERVE,
}
ENSEMBLE_REGRESSOR_ENV = {
    **ENSEMBLE_CLASSIFIER_ENV,
    "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label",
}


def image_uri(repository: str, tag: str, region: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>``."""
    account = ECR_ACCOUNTS.get(region, ECR_ACCOUNTS[DEFAULT_REGION])
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{repository}:{tag}"


def hpo_containers(
    problem_type: str, data_processor_url: str, booster_url: str, region: str
) -> list[dict[str, Any]]:
    """The serial pipeline of an XGBoost trial: 3 containers, or 2 for regression."""
    sklearn = image_uri(SKLEARN_AUTOML_REPOSITORY, SKLEARN_AUTOML_TAG, region)
    xgboost = image_uri(XGBOOST_REPOSITORY, XGBOOST_TAG, region)
    features = _container(sklearn, data_processor_url, FEATURE_TRANSFORM_ENV)
    if problem_type == REGRESSION:
        return [features, _container(xgboost, booster_url, XGBOOST_REGRESSOR_ENV)]
    return [
        features,
        _container(xgboost, booster_url, XGBOOST_CLASSIFIER_ENV),
        _container(sklearn, data_processor_url, INVERSE_LABEL_ENV),
    ]


def ensemble_containers(problem_type: str, model_url: str, region: str) -> list[dict[str, Any]]:
    """The one container of an ENSEMBLING candidate."""
    env = ENSEMBLE_REGRESSOR_ENV if problem_type == REGRESSION else ENSEMBLE_CLASSIFIER_ENV
    sklearn = image_uri(SKLEARN_AUTOML_REPOSITORY, SKLEARN_AUTOML_TAG, region)
    return [_container(sklearn, model_url, env)]


def _container(image: str, model_data_url: str, env: dict[str, str]) -> dict[str, Any]:
    # A fresh dict per container: callers edit Environment before CreateModel (§2.3).
    return {"Image": image, "ModelDataUrl": model_data_url, "Environment": dict(env)}
