#!/usr/bin/env python3
"""The intruder of the wiper drill: with the primary's S3 credentials (from AWS_*),
tries to erase a replica bucket through the S3 API, with boto3, a client statvault
has no part in. Prints one JSON object: each kind of attempt, how many were made,
how many the storage refused.

usage: drill-intruder.py BUCKET PREFIX
"""
import datetime
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

bucket, prefix = sys.argv[1], sys.argv[2].strip("/") + "/"
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    config=botocore.config.Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 1},
    ),
)
tally = {}


def attempt(kind, call, **kwargs):
    made, refused = tally.get(kind, (0, 0))
    try:
        call(**kwargs)
        tally[kind] = (made + 1, refused)
        return True
    except botocore.exceptions.ClientError:
        tally[kind] = (made + 1, refused + 1)
        return False


versions = []
for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
    versions += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
for key, version in versions:
    attempt("delete a retained version", s3.delete_object, Bucket=bucket, Key=key, VersionId=version)
    attempt("delete it, bypassing governance", s3.delete_object, Bucket=bucket, Key=key,
            VersionId=version, BypassGovernanceRetention=True)
    attempt("shorten its retention to 1 minute", s3.put_object_retention, Bucket=bucket, Key=key,
            VersionId=version, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon},
            BypassGovernanceRetention=True)
for key in sorted({k for k, _ in versions}):
    # Allowed by S3 on a versioned bucket, and without effect on the vault, which reads
    # each name's first version: counted, not refused.
    attempt("overwrite with garbage (a new version)", s3.put_object, Bucket=bucket, Key=key,
            Body=os.urandom(64))
    attempt("hide behind a delete marker", s3.delete_object, Bucket=bucket, Key=key)
attempt("suspend versioning", s3.put_bucket_versioning, Bucket=bucket,
        VersioningConfiguration={"Status": "Suspended"})
attempt("delete the bucket", s3.delete_bucket, Bucket=bucket)
print(json.dumps({kind: {"made": m, "refused": r} for kind, (m, r) in tally.items()}))
