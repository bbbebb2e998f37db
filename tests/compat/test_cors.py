"""Bucket CORS with boto3: the configuration round-trips, bad ones get S3's
codes, a preflight (sent without credentials, as a browser does) is
answered from the rules, and a request with Origin gets the headers."""

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": ["http://*.app.test"],
        "AllowedMethods": ["PUT", "GET"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def code_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def options(endpoint, path, headers):
    req = urllib.request.Request(endpoint + path, method="OPTIONS", headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def test_cors_configuration_round_trips_and_is_deleted(s3, bucket):
    assert code_of(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    assert code_of(lambda: s3.get_bucket_cors(Bucket=bucket)) == "NoSuchCORSConfiguration"


def test_bad_cors_configurations_are_refused(s3, bucket):
    for rules, code in [
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
        ([{"AllowedOrigins": ["http://*.*.test"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
        ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "MalformedXML"),
    ]:
        got = code_of(
            lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        )
        assert got == code, rules


def test_preflight_and_origin_headers(s3, endpoint, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    path = f"/{bucket}/k"
    ask = {"Origin": "http://a.app.test", "Access-Control-Request-Method": "PUT"}
    status, _ = options(endpoint, path, ask)
    assert status == 403

    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    status, h = options(
        endpoint, path, {**ask, "Access-Control-Request-Headers": "content-type"}
    )
    assert status == 200
    assert h["Access-Control-Allow-Origin"] == "http://a.app.test"
    assert h["Access-Control-Allow-Methods"] == "PUT, GET"
    assert h["Access-Control-Allow-Headers"] == "content-type"
    assert h["Access-Control-Max-Age"] == "600"
    status, _ = options(
        endpoint, path, {"Origin": "http://x.org", "Access-Control-Request-Method": "PUT"}
    )
    assert status == 403

    # A presigned GET from a browser page: the response names the origin.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    req = urllib.request.Request(url, headers={"Origin": "http://a.app.test"})
    with urllib.request.urlopen(req) as r:
        assert r.read() == b"hello"
        assert r.headers["Access-Control-Allow-Origin"] == "http://a.app.test"
        assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    with urllib.request.urlopen(url) as r:
        assert r.headers["Access-Control-Allow-Origin"] is None
