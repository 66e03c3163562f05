"""Fill the crawl shapes' moto S3 server (127.0.10.85:9000) with the bucket ``deep``.

usage: python3 seed_s3.py ENDPOINT DEEP_DIR

The bucket holds the deep tree's readme and its ``callcenter/site-a/inbound/2019/`` branch
(recordings only at depth 7, empty objects: the names are what a listing shows), written with
unsigned PUTs (the lab writing to its own server). Idempotent.
"""

from __future__ import annotations

import sys
import urllib.parse
import urllib.request
from pathlib import Path

BRANCH = "callcenter/site-a/inbound/2019/"


def put(endpoint: str, path: str) -> None:
    req = urllib.request.Request(
        endpoint + urllib.parse.quote(path), data=b"", method="PUT",
        headers={"Content-Type": "application/octet-stream", "x-amz-acl": "public-read"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def main(argv: list[str]) -> int:
    endpoint, deep = argv[1].rstrip("/"), Path(argv[2])
    put(endpoint, "/deep")
    branch = sorted(
        p.relative_to(deep).as_posix() for p in (deep / BRANCH).rglob("*") if p.is_file()
    )
    keys = ["readme.txt", *branch]
    for key in keys:
        put(endpoint, f"/deep/{key}")
    print(f"seeded deep with {len(keys)} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
