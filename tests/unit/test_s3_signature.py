"""AWS Signature Version 4 as S3 checks it: the examples AWS publishes for S3, and botocore's
signer on the requests retention sends (listing and aborting unfinished multipart uploads)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from app.s3_uploads import EMPTY_SHA256, Credentials, sign

# The example keys and time of AWS's "Signature Calculations for the Authorization Header:
# Transferring Payload in a Single Chunk" (Amazon S3 API Reference), with its signatures.
EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
EXAMPLE_TIME = datetime(2013, 5, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "headers", "signature"),
    [
        (
            "https://examplebucket.s3.amazonaws.com/test.txt",
            {"Range": "bytes=0-9"},
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        ),
        (
            "https://examplebucket.s3.amazonaws.com/?lifecycle",
            {},
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
            {},
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_the_signatures_aws_publishes(url: str, headers: dict[str, str], signature: str) -> None:
    signed = sign("GET", url, EXAMPLE, headers=headers, now=EXAMPLE_TIME)

    assert signed["authorization"].endswith(f"Signature={signature}")
    assert (
        "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
        in (signed["authorization"])
    )


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "http://127.0.0.1:9000/media/?prefix=tenant%20a%2Fjobs%2F&uploads="),
        ("GET", "http://127.0.0.1:9000/media/?prefix=p%2F&uploads=&key-marker=p%2Fa.mp4"),
        ("DELETE", "http://127.0.0.1:9000/media/p/jobs/x/1/video%20one.mp4?uploadId=a%2Bb~c"),
    ],
)
def test_the_retention_requests_sign_as_botocore_signs_them(method: str, url: str) -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret/with+chars", "a-session-token", "eu-west-3")
    request = AWSRequest(method=method, url=url, headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    S3SigV4Auth(
        BotocoreCredentials("AKIDEXAMPLE", "secret/with+chars", "a-session-token"),
        "s3",
        "eu-west-3",
    ).add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    ours = sign(method, url, credentials, now=when)

    assert ours["authorization"] == request.headers["Authorization"]
