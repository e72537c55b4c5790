"""A real S3 server for tests: moto's standalone server, in a process of its own on loopback.

It speaks the S3 protocol over HTTP (multipart uploads, ranged reads, listing, SHA-256 checksums),
so the service talks to it exactly as to MinIO or AWS, through the standard AWS_* variables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

START_TIMEOUT_S = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def s3_server(host: str = "127.0.0.1") -> Iterator[str]:
    """moto's S3 server on a free port of `host`; yields its endpoint URL."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def aws_environment(endpoint: str) -> dict[str, str]:
    """The variables a process needs to reach the server (as any S3 client reads them)."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", **CREDENTIALS}


@contextmanager
def aws_variables(endpoint: str) -> Iterator[None]:
    """Set the AWS_* variables in this process (and the processes it starts) for a block."""
    saved = {name: os.environ.get(name) for name in aws_environment(endpoint)}
    os.environ.update(aws_environment(endpoint))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def new_bucket(endpoint: str) -> str:
    """A fresh, empty bucket; its name. (moto takes an unsigned request.)"""
    name = f"mp-{uuid.uuid4().hex[:16]}"
    httpx.put(f"{endpoint}/{name}").raise_for_status()
    return name


def object_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in the bucket, read without our client (ListObjectsV2 on the wire)."""
    response = httpx.get(f"{endpoint}/{bucket}", params={"list-type": "2"})
    response.raise_for_status()
    text = response.text
    return [part.split("</Key>")[0] for part in text.split("<Key>")[1:]]


def multipart_uploads(endpoint: str, bucket: str) -> list[str]:
    """Keys of multipart uploads begun and neither completed nor aborted."""
    response = httpx.get(f"{endpoint}/{bucket}", params={"uploads": ""})
    response.raise_for_status()
    return [part.split("</Key>")[0] for part in response.text.split("<Key>")[1:]]
