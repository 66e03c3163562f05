"""The lab's S3 (moto) with curl and boto3: the open endpoint lists and serves unsigned, the
twin refuses unsigned requests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lab_clients import ClientLab, curl

from scanner.lab import content
from scanner.lab.services import s3

EXAMPLE = content.RECORDING_EXAMPLE  # 2019/03/<personnummer>_<phone>_<time>.wav


@pytest.mark.lab
def test_s3_open_lists_buckets_and_objects_unsigned(client_lab: ClientLab) -> None:
    base = f"http://{s3.OPEN_ADDR}:{s3.PORT}"
    code, body = curl(client_lab, base + "/")
    assert code == 200
    for bucket in s3.BUCKETS:
        assert f"<Name>{bucket}</Name>" in body
    code, body = curl(client_lab, base + "/call-recordings?prefix=2019/03/")
    assert code == 200
    assert f"<Key>{EXAMPLE}</Key>" in body
    code, body = curl(client_lab, base + "/website-assets")
    assert code == 200 and "<Key>index.html</Key>" in body and "2019/" not in body


@pytest.mark.lab
def test_s3_open_object_readable_unsigned(client_lab: ClientLab, tmp_path: Path) -> None:
    out = tmp_path / "rec.wav"
    r = client_lab.run(["curl", "-s", "-f", "--max-time", "10", "-o", str(out),
                 f"http://{s3.OPEN_ADDR}:{s3.PORT}/call-recordings/{EXAMPLE}"])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == (client_lab.ctx.content / EXAMPLE).read_bytes()


@pytest.mark.lab
def test_s3_twin_refuses_unsigned(client_lab: ClientLab) -> None:
    base = f"http://{s3.TWIN_ADDR}:{s3.PORT}"
    for path in ("/", "/call-recordings", f"/call-recordings/{EXAMPLE}"):
        code, body = curl(client_lab, base + path)
        assert code == 403
        assert "<Code>AccessDenied</Code>" in body
        assert "Key>" not in body


@pytest.mark.lab
def test_s3_clients_unsigned_boto3(client_lab: ClientLab) -> None:
    """boto3 with UNSIGNED config: the open server lists, the twin raises AccessDenied."""
    code = (
        "import json, sys, boto3, botocore\n"
        "from botocore import UNSIGNED\n"
        "from botocore.config import Config\n"
        "out = {}\n"
        "for name, url in (('open', sys.argv[1]), ('twin', sys.argv[2])):\n"
        "    c = boto3.client('s3', endpoint_url=url, region_name='us-east-1',\n"
        "        config=Config(signature_version=UNSIGNED, retries={'max_attempts': 1}))\n"
        "    try:\n"
        "        r = c.list_objects_v2(Bucket='call-recordings', MaxKeys=5)\n"
        "        out[name] = [o['Key'] for o in r.get('Contents', [])]\n"
        "    except botocore.exceptions.ClientError as e:\n"
        "        out[name] = e.response['Error']['Code']\n"
        "print(json.dumps(out))\n"
    )
    r = client_lab.run([sys.executable, "-c", code, f"http://{s3.OPEN_ADDR}:{s3.PORT}",
                 f"http://{s3.TWIN_ADDR}:{s3.PORT}"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["open"]) == 5 and all(k.startswith("20") for k in out["open"])
    assert out["twin"] == "AccessDenied"
