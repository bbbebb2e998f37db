"""perf/iam.sh's fixture: bucket `iam-bench`, an IAM user `bench-user` with
three attached managed policies of ten statements each (the statement that
allows the benchmark is the last of the last policy, so evaluation walks the
rest first), and a bucket policy with conditions. Prints the user's key and
secret."""
import json
import os

import boto3
from botocore.config import Config

END, AK, SK = os.environ["ENDPOINT"], os.environ["AK"], os.environ["SK"]
cfg = Config(retries={"max_attempts": 1})
kw = dict(endpoint_url=END, aws_access_key_id=AK, aws_secret_access_key=SK,
          region_name="us-east-1", config=cfg)
s3, iam = boto3.client("s3", **kw), boto3.client("iam", **kw)
BUCKET = "iam-bench"
s3.create_bucket(Bucket=BUCKET)


def statement(p, i):
    if (p, i) == (2, 9):
        return {"Sid": "Bench", "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{BUCKET}/${{aws:username}}/*",
                "Condition": {"StringEquals": {"aws:PrincipalType": "User"}}}
    if (p, i) == (2, 8):
        return {"Sid": "BenchList", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{BUCKET}"}
    if (p, i) == (1, 9):
        return {"Sid": "NoForeignDeletes", "Effect": "Deny", "Action": "s3:Delete*",
                "NotResource": f"arn:aws:s3:::{BUCKET}/${{aws:username}}/*"}
    kind = i % 3
    if kind == 0:
        return {"Sid": f"Read{p}x{i}", "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::data-{p}-{i}/*"}
    if kind == 1:
        return {"Sid": f"List{p}x{i}", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::data-{p}-{i}",
                "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}}
    return {"Sid": f"Private{p}x{i}", "Effect": "Deny", "Action": "s3:*Object",
            "Resource": f"arn:aws:s3:::{BUCKET}/private-{p}-{i}/*"}


iam.create_user(UserName="bench-user")
for p in range(3):
    doc = {"Version": "2012-10-17", "Statement": [statement(p, i) for i in range(10)]}
    arn = iam.create_policy(PolicyName=f"bench-{p}",
                            PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="bench-user", PolicyArn=arn)
bucket_policy = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TlsForSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": f"arn:aws:s3:::{BUCKET}/secret/*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "Loopback", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": f"arn:aws:s3:::{BUCKET}/*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
    {"Sid": "Until", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
     "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/shared/*",
     "Condition": {"DateLessThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}},
    {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": f"arn:aws:s3:::{BUCKET}/public/*"}]}
s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(bucket_policy))
key = iam.create_access_key(UserName="bench-user")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
