from typing import Any


def test_moto_server_round_trip(s3: Any) -> None:
    s3.put_object(Bucket="bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="bucket", Key="k")["Body"].read() == b"v"
