"""Bucket lifecycle with boto3: a configuration of every rule form
round-trips, the transition minimum is kept and answered, bad
configurations get S3's codes, and x-amz-expiration names the rule that
expires an object."""

import pytest
from botocore.exceptions import ClientError

RULES = [
    {
        "ID": "logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    },
    {
        "ID": "big",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "data/", "ObjectSizeGreaterThan": 1024,
                           "Tags": [{"Key": "tier", "Value": "cold"}]}},
        "Transitions": [{"Days": 10, "StorageClass": "REDUCED_REDUNDANCY"}],
    },
    {
        "ID": "off",
        "Status": "Disabled",
        "Filter": {"Tag": {"Key": "keep", "Value": "no"}},
        "Expiration": {"Date": "2030-01-01T00:00:00Z"},
    },
]


def code_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_rules_round_trip_with_the_transition_minimum(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"

    put = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    # S3's default, answered when the request named none.
    assert put["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    assert [r["ID"] for r in got["Rules"]] == ["logs", "big", "off"]
    assert got["Rules"][0]["Expiration"] == {"Days": 30}
    assert got["Rules"][0]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": 7, "NewerNoncurrentVersions": 2}
    assert got["Rules"][1]["Filter"]["And"]["ObjectSizeGreaterThan"] == 1024
    assert got["Rules"][1]["Transitions"] == [{"Days": 10, "StorageClass": "REDUCED_REDUNDANCY"}]
    assert got["Rules"][2]["Status"] == "Disabled"

    put = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1]},
        TransitionDefaultMinimumObjectSize="varies_by_storage_class")
    assert put["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    assert [r["ID"] for r in got["Rules"]] == ["logs"]

    # x-amz-expiration on PUT and HEAD of an object a rule expires.
    r = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    assert 'rule-id="logs"' in r["Expiration"]
    assert 'rule-id="logs"' in s3.head_object(Bucket=bucket, Key="logs/a")["Expiration"]
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other/a", Body=b"x")

    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert code_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == \
        "NoSuchLifecycleConfiguration"


@pytest.mark.parametrize("rules,code", [
    # Prefix and Filter both.
    ([{"ID": "x", "Status": "Enabled", "Prefix": "a/", "Filter": {"Prefix": "a/"},
       "Expiration": {"Days": 1}}], "MalformedXML"),
    # No action.
    ([{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "a/"}}], "InvalidRequest"),
    # Days below 1.
    ([{"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}],
     "InvalidArgument"),
    # One ID on two rules.
    ([{"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}},
      {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 2}}],
     "InvalidArgument"),
    # A class S3 has and the node does not.
    ([{"ID": "x", "Status": "Enabled", "Filter": {},
       "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}], "InvalidStorageClass"),
])
def test_bad_configurations_get_s3s_codes(s3, bucket, rules, code):
    assert code_of(lambda: s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules})) == code
    assert code_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == \
        "NoSuchLifecycleConfiguration"


def test_an_unknown_transition_minimum_is_refused(s3, bucket):
    def put_with_bad_header():
        s3.meta.events.register_first(
            "before-sign.s3.PutBucketLifecycleConfiguration", set_bad_header)
        try:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1]})
        finally:
            s3.meta.events.unregister(
                "before-sign.s3.PutBucketLifecycleConfiguration", set_bad_header)

    assert code_of(put_with_bad_header) == "InvalidArgument"
    assert code_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)) == \
        "NoSuchLifecycleConfiguration"


def set_bad_header(request, **_):
    request.headers["x-amz-transition-default-minimum-object-size"] = "all_storage_classes_64K"
