#!/bin/sh
# docker compose entry: moto_server on 0.0.0.0:9000, seeded by seed.py (the lab's own writes).
set -e
moto_server -H 0.0.0.0 -p 9000 &
pid=$!
python3 - <<'PY'
import socket, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", 9000), timeout=1).close()
        break
    except OSError:
        time.sleep(0.2)
PY
python3 /src/s3/seed.py http://127.0.0.1:9000 /lab/content
wait "$pid"
