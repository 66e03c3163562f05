#!/bin/sh
# docker compose entry (what scanner/lab/services/s3.py does): moto_server on 0.0.0.0:9000,
# then seed.py fills it (the lab writing to its own server); /tmp/seeded tells the compose
# health check that it is ready.
set -eu
moto_server -H 0.0.0.0 -p 9000 &
pid=$!
# wait until moto answers an S3 request (its first one loads the S3 backend: slow on a busy
# machine, longer than seed.py's per-request timeout)
python3 -c '
import time, urllib.error, urllib.request
deadline = time.monotonic() + 240
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:9000/", timeout=60).close()
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
'
python3 /cfg/s3/seed.py http://127.0.0.1:9000 /lab/content
touch /tmp/seeded
wait "$pid"
