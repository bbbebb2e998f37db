#!/usr/bin/env python3
"""Loads a running cairn and times admin requests (perf/admin_usage.sh).

  admin_load.py usage ENDPOINT AK SK BUCKETS OBJECTS REPEATS
      makes OBJECTS empty-ish objects spread over BUCKETS buckets, then
      times GET /_cairn/admin/v1/usage REPEATS times.

Prints one JSON document of figures. Objects are 16 bytes: the figures
are about the index and the counters, not the data path.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import requests

THREADS = 32


def client(endpoint, ak, sk):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        region_name="us-east-1",
        config=botocore.config.Config(
            max_pool_connections=THREADS,
            retries={"max_attempts": 10, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )


def put_all(c, pairs):
    body = b"0123456789abcdef"

    def one(bk):
        c.put_object(Bucket=bk[0], Key=bk[1], Body=body)

    start = time.monotonic()
    with ThreadPoolExecutor(THREADS) as ex:
        for n, _ in enumerate(ex.map(one, pairs), 1):
            if n % 50000 == 0:
                print(f"  {n} objects, {n / (time.monotonic() - start):.0f}/s", file=sys.stderr)
    return time.monotonic() - start


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def admin_get(endpoint, ak, sk, path):
    creds = botocore.credentials.Credentials(ak, sk)
    req = botocore.awsrequest.AWSRequest(method="GET", url=f"{endpoint}{path}", data=b"")
    req.headers["x-amz-content-sha256"] = botocore.auth.EMPTY_SHA256_HASH
    botocore.auth.SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    start = time.monotonic()
    r = requests.get(req.url, headers=dict(req.headers), timeout=60)
    took = time.monotonic() - start
    r.raise_for_status()
    return took, r.json()


def usage(endpoint, ak, sk, buckets, objects, repeats):
    c = client(endpoint, ak, sk)
    names = [f"usage-{i:03d}" for i in range(buckets)]
    for b in names:
        c.create_bucket(Bucket=b)
    pairs = [(names[i % buckets], f"obj/{i:08d}") for i in range(objects)]
    load_s = put_all(c, pairs)
    times = []
    total = None
    for _ in range(repeats):
        t, doc = admin_get(endpoint, ak, sk, "/_cairn/admin/v1/usage")
        times.append(t * 1000)
        total = doc["total"]
    assert total["objects"] == objects, total
    return {
        "buckets": buckets,
        "objects": objects,
        "load_seconds": round(load_s, 1),
        "usage_ms": {
            "n": repeats,
            "min": round(min(times), 2),
            "p50": round(pct(times, 50), 2),
            "p99": round(pct(times, 99), 2),
            "max": round(max(times), 2),
        },
    }


def main():
    mode, endpoint, ak, sk, *rest = sys.argv[1:]
    if mode == "usage":
        out = usage(endpoint, ak, sk, int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
