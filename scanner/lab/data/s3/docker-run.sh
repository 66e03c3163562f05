#!/bin/sh
# docker compose entry (what scanner/lab/services/s3.py does): moto_server on 0.0.0.0:9000,
# then seed.py fills it (the lab writing to its own server); /tmp/seeded tells the compose
# health check that it is ready.
set -eu
moto_server -H 0.0.0.0 -p 9000 &
pid=$!
python3 -c '
import socket, time
for _ in range(150):
    try:
        socket.create_connection(("127.0.0.1", 9000), timeout=1).close()
        break
    except OSError:
        time.sleep(0.2)
'
python3 /cfg/s3/seed.py http://127.0.0.1:9000 /lab/content
touch /tmp/seeded
wait "$pid"
