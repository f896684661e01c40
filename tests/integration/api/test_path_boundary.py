"""The server's trust boundary at create time, through boto3: local paths only under its
``--allow-path`` roots (the API fixture allows the test's directory), and no script mode when
it is turned off. Jobs do not run here (no scheduler); ``test_boundary_server`` runs them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchform.api.app import build_app
from batchform.config import Settings
from batchform.jobs.service import JobService
from batchform.jobs.store import JobStore
from tests.integration.api.serving import sagemaker_client, serving

INPUT_FIELD = "TransformInput.DataSource.S3DataSource.S3Uri"
OUTPUT_FIELD = "TransformOutput.S3OutputPath"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The allowed root as the server sees it (symbolic links of the temp dir resolved)."""
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the root, holding a file a caller must not read."""
    directory = tmp_path_factory.mktemp("outside")
    (directory / "secret.csv").write_text("5,6\n")
    return directory


@pytest.fixture
def model(sagemaker: Any, tmp_path: Path) -> str:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    container = {"Image": "xgboost", "ModelDataUrl": f"file://{model_dir}"}
    sagemaker.create_model(ModelName="m", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    return "m"


ROLE = "arn:aws:iam::123456789012:role/r"


def job(name: str, input_uri: str, output: str, data_type: str = "S3Prefix") -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": "m",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": input_uri}}
        },
        "TransformOutput": {"S3OutputPath": output},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def refusal(call: Callable[..., Any], **request: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**request)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return str(caught.value.response["Error"]["Message"])


def test_paths_inside_the_root_are_accepted(
    sagemaker: Any, model: str, input_dir: Path, tmp_path: Path
) -> None:
    request = job("inside", f"file://{input_dir}", str(tmp_path / "out"))

    assert sagemaker.create_transform_job(**request)["TransformJobArn"].endswith("/inside")


def test_an_input_outside_the_root_is_refused_naming_the_field(
    sagemaker: Any, model: str, tmp_path: Path, root: Path
) -> None:
    message = refusal(sagemaker.create_transform_job, **job("j", "file:///etc", str(tmp_path)))

    assert message == (
        f"{INPUT_FIELD} file:///etc is outside the paths this server may read "
        f"(--allow-path): {root}"
    )


def test_dot_dot_cannot_escape_the_root(
    sagemaker: Any, model: str, input_dir: Path, tmp_path: Path
) -> None:
    escape = f"file://{input_dir}/../../"

    message = refusal(sagemaker.create_transform_job, **job("j", escape, str(tmp_path)))

    assert message.startswith(f"{INPUT_FIELD} {escape} is outside the paths this server may read")


def test_a_symlink_in_the_root_cannot_lead_out(
    sagemaker: Any, model: str, tmp_path: Path, outside: Path
) -> None:
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    request = job("j", str(tmp_path / "link"), str(tmp_path / "out"))

    message = refusal(sagemaker.create_transform_job, **request)

    assert message.startswith(f"{INPUT_FIELD} {tmp_path / 'link'} is outside the paths")
    assert message.endswith(f"(it leads to {os.path.realpath(outside)})")


def test_a_listed_file_that_links_out_is_refused(
    sagemaker: Any, model: str, input_dir: Path, tmp_path: Path, outside: Path
) -> None:
    (input_dir / "z.csv").symlink_to(outside / "secret.csv")

    message = refusal(
        sagemaker.create_transform_job, **job("j", str(input_dir), str(tmp_path / "out"))
    )

    assert message.startswith(f"{INPUT_FIELD} {input_dir} names file://{input_dir}/z.csv, which")
    assert "is outside the paths this server may read" in message


def test_manifest_entries_outside_the_root_are_refused(
    sagemaker: Any, model: str, input_dir: Path, tmp_path: Path, outside: Path
) -> None:
    manifest = tmp_path / "inputs.manifest"
    entries = [str(input_dir / "data.csv"), f"file://{outside}/secret.csv"]
    manifest.write_text(json.dumps(entries))
    request = job("j", str(manifest), str(tmp_path / "out"), data_type="ManifestFile")

    message = refusal(sagemaker.create_transform_job, **request)

    assert message.startswith(f"{INPUT_FIELD} {manifest} names file://{outside}/secret.csv")
    assert "is outside the paths this server may read" in message


@pytest.mark.usefixtures("model")
def test_an_output_through_a_symlink_leading_out_is_refused(
    sagemaker: Any, input_dir: Path, tmp_path: Path, outside: Path, root: Path
) -> None:
    (tmp_path / "out").symlink_to(outside, target_is_directory=True)

    message = refusal(
        sagemaker.create_transform_job, **job("j", str(input_dir), str(tmp_path / "out"))
    )

    assert message == (
        f"{OUTPUT_FIELD} {tmp_path / 'out'} is outside the paths this server may write "
        f"(--allow-path): {root} (it leads to {os.path.realpath(outside)})"
    )


def test_model_data_outside_the_root_is_refused_in_every_container(
    sagemaker: Any, outside: Path, tmp_path: Path
) -> None:
    inside = {"Image": "xgboost", "ModelDataUrl": str(tmp_path)}
    out = {"Image": "xgboost", "ModelDataUrl": f"file://{outside}/model.tar.gz"}

    primary = refusal(sagemaker.create_model, ModelName="p", PrimaryContainer=out)
    second = refusal(sagemaker.create_model, ModelName="c", Containers=[inside, out])

    assert primary.startswith(f"PrimaryContainer.ModelDataUrl file://{outside}/model.tar.gz is")
    assert second.startswith("Containers.2.member.ModelDataUrl ")


def test_automl_locations_outside_the_root_are_refused(
    sagemaker: Any, input_dir: Path, tmp_path: Path, outside: Path
) -> None:
    def request(channel: Path, output: Path) -> dict[str, Any]:
        source = {"S3DataType": "S3Prefix", "S3Uri": str(channel)}
        return {
            "AutoMLJobName": "a",
            "AutoMLJobInputDataConfig": [{"DataSource": {"S3DataSource": source}}],
            "OutputDataConfig": {"S3OutputPath": str(output)},
            "AutoMLProblemTypeConfig": {"TabularJobConfig": {"TargetAttributeName": "y"}},
            "RoleArn": ROLE,
        }

    channel = refusal(sagemaker.create_auto_ml_job_v2, **request(outside, tmp_path / "o"))
    output = refusal(sagemaker.create_auto_ml_job_v2, **request(input_dir, outside / "o"))

    assert channel.startswith(f"S3DataSource.S3Uri {outside} is outside the paths")
    assert output.startswith(f"OutputDataConfig.S3OutputPath {outside / 'o'} is outside")


@pytest.fixture
def locked_down(store: JobStore, tmp_path: Path) -> Iterator[Any]:
    """boto3 on a server started without --allow-path and with --no-script-mode."""
    settings = Settings(home=tmp_path / "home").restricted((), script_mode=False)
    with serving(build_app(JobService(store, settings=settings))) as url:
        yield sagemaker_client(url)


def test_without_allow_path_no_local_path_is_accepted(locked_down: Any, tmp_path: Path) -> None:
    container = {"Image": "xgboost", "ModelDataUrl": str(tmp_path)}

    message = refusal(locked_down.create_model, ModelName="m", PrimaryContainer=container)

    assert message == (
        f"PrimaryContainer.ModelDataUrl {tmp_path} is a local path, and this server may read "
        "no local paths (start it with --allow-path DIR to allow some)"
    )


def test_without_script_mode_a_model_asking_for_it_is_refused(locked_down: Any) -> None:
    env = {"SAGEMAKER_PROGRAM": "inference.py"}
    sklearn = {"Image": "sklearn", "ModelDataUrl": "s3://b/m.tar.gz", "Environment": env}
    python = {"Image": "python", "ModelDataUrl": "s3://b/m.tar.gz"}

    by_program = refusal(locked_down.create_model, ModelName="s", PrimaryContainer=sklearn)
    by_image = refusal(locked_down.create_model, ModelName="p", PrimaryContainer=python)

    assert by_program == (
        "PrimaryContainer: SAGEMAKER_PROGRAM=inference.py asks for script mode (code from the "
        "model data run by the server), which this server has turned off "
        "(batchform server --no-script-mode)"
    )
    assert by_image.startswith("PrimaryContainer: image python, which only runs the model's")
    assert by_image.endswith("(batchform server --no-script-mode)")


def test_without_script_mode_other_models_and_s3_work(locked_down: Any) -> None:
    # Autopilot's containers set SAGEMAKER_PROGRAM but run no script.
    automl = {
        "Image": "sagemaker-sklearn-automl",
        "ModelDataUrl": "s3://b/m.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "sagemaker_serve"},
    }

    answer = locked_down.create_model(ModelName="a", PrimaryContainer=automl)

    assert answer["ModelArn"].endswith(":model/a")


def test_without_script_mode_a_job_environment_cannot_turn_it_on(
    locked_down: Any, tmp_path: Path
) -> None:
    container = {"Image": "sklearn", "ModelDataUrl": "s3://b/m.tar.gz"}
    locked_down.create_model(ModelName="m", PrimaryContainer=container)
    request = {
        **job("j", "s3://b/in/", "s3://b/out/"),
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
    }

    message = refusal(locked_down.create_transform_job, **request)

    assert message.startswith("Environment: SAGEMAKER_PROGRAM=inference.py asks for script mode")
