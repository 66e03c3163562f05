"""Fill the lab's moto S3 server with its buckets (the lab writing to its own server).

usage: python3 seed.py ENDPOINT CONTENT_DIR     e.g. http://127.0.10.51:9000 /lab/content

Unsigned requests, standard library only (runs in the namespace lab and in the docker image).
``call-recordings`` gets the recordings tree (bounded), ``website-assets`` a few dull objects.
Idempotent: existing buckets and objects are overwritten.
"""

from __future__ import annotations

import sys
import urllib.parse
import urllib.request
from pathlib import Path

MAX_OBJECTS = 400
MAX_BYTES = 64 * 1024 * 1024
DULL = {
    "index.html": b"<!doctype html><title>Example</title><p>Welcome.</p>\n",
    "css/site.css": b"body { font-family: sans-serif; }\n",
    "img/logo.png": bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    ),
    "robots.txt": b"User-agent: *\nDisallow:\n",
}


def put(endpoint: str, path: str, body: bytes = b"") -> None:
    req = urllib.request.Request(
        endpoint + urllib.parse.quote(path),
        data=body,
        method="PUT",
        headers={"Content-Type": "application/octet-stream", "x-amz-acl": "public-read"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def main(argv: list[str]) -> int:
    endpoint, content = argv[1].rstrip("/"), Path(argv[2])
    put(endpoint, "/call-recordings")
    put(endpoint, "/website-assets")
    for key, body in DULL.items():
        put(endpoint, f"/website-assets/{key}", body)
    count = total = 0
    for f in sorted(p for p in content.rglob("*") if p.is_file()):
        size = f.stat().st_size
        if count >= MAX_OBJECTS or total + size > MAX_BYTES:
            break
        put(endpoint, f"/call-recordings/{f.relative_to(content).as_posix()}", f.read_bytes())
        count += 1
        total += size
    print(f"seeded call-recordings with {count} objects ({total} bytes), website-assets with "
          f"{len(DULL)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
