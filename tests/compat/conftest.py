"""Fixtures for the client compatibility suite.

run.sh starts cairn and passes where it listens through CAIRN_ENDPOINT,
CAIRN_ACCESS_KEY and CAIRN_SECRET_KEY. Every test gets its own bucket,
emptied and removed afterwards.
"""

import os
import sys
import uuid

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test is a failure: a missing tool must not
    leave the run green. Locally a skip stays a skip, with its reason."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (CI=true), which must run every test: {reason}"


def _require(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run this suite through tests/compat/run.sh", returncode=2)
    return value


@pytest.fixture(scope="session")
def endpoint():
    return _require("CAIRN_ENDPOINT")


@pytest.fixture(scope="session")
def credentials():
    return _require("CAIRN_ACCESS_KEY"), _require("CAIRN_SECRET_KEY")


@pytest.fixture(scope="session")
def s3(endpoint, credentials):
    """A boto3 client at boto3's own defaults (checksums included); only
    addressing is pinned: path style, as a plain-IP endpoint needs."""
    access, secret = credentials
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def empty_bucket(s3, name):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})


@pytest.fixture
def bucket(s3):
    name = f"compat-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def aws_env(endpoint, credentials, tmp_path_factory):
    """Environment for the aws CLI: our credentials and nothing from the
    user's own configuration."""
    access, secret = credentials
    home = tmp_path_factory.mktemp("awshome")
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=access,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_PAGER="",
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


@pytest.fixture(scope="session")
def aws_bin():
    """The aws CLI installed in the same venv as this Python."""
    path = os.path.join(os.path.dirname(sys.executable), "aws")
    if not os.path.exists(path):
        pytest.skip(f"the aws CLI is not installed next to {sys.executable}")
    return path
