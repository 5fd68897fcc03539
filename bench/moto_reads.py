"""What moto itself spends on the processor's DynamoDB calls, measured from a plain boto3
client: writing 6,500 finding-shaped items (BatchWriteItem of 25), then reading them back
as the processor looks up a group's stored state (BatchGetItem of 100 keys, consistent,
projecting the key and `lookup_state`), first for keys that do not exist yet, then for keys
that do; then the same existing keys with the 7 separate attributes the lookup read before
`lookup_state` existed. Explains the end-to-end figures on a re-scan (see BENCHMARKS.md).

Usage: python bench/moto_reads.py   (with the venv's moto_server on PATH or beside python)
"""

import json
import os
import socket
import subprocess
import sys
import time

import boto3

ITEMS = 6500
PROJECTION = "sk, lookup_state"
SEVEN = "uid, first_seen_at, status_code, severity, ingestion_id, delta, record_index"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def item(i):
    value = {
        "pk": {"S": "TENANT#bench"},
        "sk": {"S": f"FINDING#prowler-aws-check_{i:06}-123456789012-us-east-1-resource"},
        "uid": {"S": f"prowler-aws-check_{i:06}-123456789012-us-east-1-resource"},
    }
    for name in ["first_seen_at", "last_seen_at", "ingestion_id", "raw_key", "check_id"]:
        value[name] = {"S": "x" * 36}
    for name in ["severity", "status_code", "delta", "provider", "region", "account_uid"]:
        value[name] = {"S": "x" * 8}
    for name in ["record_index", "raw_at", "raw_len"]:
        value[name] = {"N": str(i)}
    state = ["x" * 36, "x" * 8, "x" * 8, "x" * 36, "x" * 8, i]
    value["lookup_state"] = {"S": json.dumps(state, separators=(",", ":"))}
    return value


def key(i):
    it = item(i)
    return {"pk": it["pk"], "sk": it["sk"]}


def main():
    server = os.path.join(os.path.dirname(sys.executable), "moto_server")
    port = free_port()
    moto = subprocess.Popen(
        [server, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        for _ in range(100):
            try:
                client.list_tables()
                break
            except Exception:
                time.sleep(0.1)
        client.create_table(
            TableName="findings",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )

        def read_all(projection=PROJECTION):
            started = time.perf_counter()
            for start in range(0, ITEMS, 100):
                client.batch_get_item(
                    RequestItems={
                        "findings": {
                            "Keys": [key(i) for i in range(start, start + 100)],
                            "ConsistentRead": True,
                            "ProjectionExpression": projection,
                        }
                    }
                )
            return time.perf_counter() - started

        missing = read_all()
        started = time.perf_counter()
        for start in range(0, ITEMS, 25):
            client.batch_write_item(
                RequestItems={
                    "findings": [
                        {"PutRequest": {"Item": item(i)}} for i in range(start, start + 25)
                    ]
                }
            )
        write = time.perf_counter() - started
        existing = read_all()
        existing_seven = read_all(SEVEN)
        print(
            json.dumps(
                {
                    "items": ITEMS,
                    "batch_write_seconds": write,
                    "batch_get_missing_seconds": missing,
                    "batch_get_existing_seconds": existing,
                    "ms_per_existing_item_read": existing * 1000 / ITEMS,
                    "batch_get_existing_seven_seconds": existing_seven,
                    "ms_per_existing_item_read_seven": existing_seven * 1000 / ITEMS,
                }
            )
        )
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
