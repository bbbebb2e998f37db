"""Bucket websites with boto3: put/get/delete_bucket_website round-trip,
bad configurations get S3's codes, and a public bucket is served on its
website host (run.sh starts cairn with --website-domain) to a plain HTTP
client, with the error document and S3's HTML page on a miss."""

import json
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

SITE = {
    "IndexDocument": {"Suffix": "index.html"},
    "ErrorDocument": {"Key": "404.html"},
    "RoutingRules": [
        {
            "Condition": {"KeyPrefixEquals": "docs/"},
            "Redirect": {"ReplaceKeyPrefixWith": "documents/"},
        },
        {
            "Condition": {"HttpErrorCodeReturnedEquals": "404", "KeyPrefixEquals": "gone/"},
            "Redirect": {
                "HostName": "example.com",
                "Protocol": "https",
                "HttpRedirectCode": "302",
                "ReplaceKeyWith": "moved.html",
            },
        },
    ],
}


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def visit(endpoint, bucket, path):
    """GET `path` on `bucket`'s website, as a browser that does not follow
    redirects: (status, headers, body)."""
    host = f"{bucket}.{os.environ['CAIRN_WEBSITE_DOMAIN']}"
    req = urllib.request.Request(endpoint + path, headers={"Host": host})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_website_configuration_round_trips_and_is_deleted(s3, bucket):
    assert error_of(lambda: s3.get_bucket_website(Bucket=bucket))[0] == "NoSuchWebsiteConfiguration"
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=SITE)
    got = s3.get_bucket_website(Bucket=bucket)
    assert {k: got[k] for k in SITE} == SITE
    redirect_all = {"RedirectAllRequestsTo": {"HostName": "example.org", "Protocol": "https"}}
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=redirect_all)
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["RedirectAllRequestsTo"] == redirect_all["RedirectAllRequestsTo"]
    assert "IndexDocument" not in got
    s3.delete_bucket_website(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_website(Bucket=bucket))[0] == "NoSuchWebsiteConfiguration"


def test_bad_website_configurations_are_refused(s3, bucket):
    for config, code in [
        ({"IndexDocument": {"Suffix": "a/index.html"}}, "InvalidArgument"),
        ({"ErrorDocument": {"Key": "e.html"}}, "InvalidArgument"),
        (
            {
                "IndexDocument": {"Suffix": "index.html"},
                "RoutingRules": [{"Redirect": {"HttpRedirectCode": "300"}}],
            },
            "InvalidRequest",
        ),
    ]:
        got = error_of(lambda: s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=config))
        assert got[0] == code, (config, got)


def test_a_public_bucket_is_served_on_its_website_host(s3, endpoint, bucket):
    s3.delete_public_access_block(Bucket=bucket)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"home", ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="404.html", Body=b"not here", ContentType="text/html")
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration=SITE)

    status, headers, body = visit(endpoint, bucket, "/")
    assert (status, headers["Content-Type"], body) == (200, "text/html", b"home")
    status, headers, body = visit(endpoint, bucket, "/missing")
    assert (status, body) == (404, b"not here")
    status, headers, _ = visit(endpoint, bucket, "/gone/page")
    assert (status, headers["Location"]) == (302, "https://example.com/moved.html")

    s3.delete_object(Bucket=bucket, Key="404.html")
    status, headers, body = visit(endpoint, bucket, "/missing")
    assert (status, headers["Content-Type"]) == (404, "text/html; charset=utf-8")
    assert b"<li>Code: NoSuchKey</li>" in body, body
