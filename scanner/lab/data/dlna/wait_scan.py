"""Lab helper: wait until MiniDLNA's index holds N items under 'Browse Folders' (ObjectID 64).

Usage: python3 wait_scan.py CONTROL_URL N [TIMEOUT]. Runs inside the lab namespace (stdlib only).
"""

import html
import re
import sys
import time
import urllib.request

BODY = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    '<s:Body><u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">'
    "<ObjectID>{oid}</ObjectID><BrowseFlag>BrowseDirectChildren</BrowseFlag><Filter>*</Filter>"
    "<StartingIndex>0</StartingIndex><RequestedCount>1000</RequestedCount><SortCriteria>"
    "</SortCriteria></u:Browse></s:Body></s:Envelope>"
)


def browse(url: str, oid: str) -> str:
    req = urllib.request.Request(url, data=BODY.format(oid=html.escape(oid)).encode(), headers={
        "Content-Type": 'text/xml; charset="utf-8"',
        "SOAPACTION": '"urn:schemas-upnp-org:service:ContentDirectory:1#Browse"'})
    with urllib.request.urlopen(req, timeout=5) as r:
        return html.unescape(r.read().decode())


def count(url: str, oid: str, depth: int = 0) -> int:
    text = browse(url, oid)
    n = text.count("<item ")
    if depth < 8:
        for cid in re.findall(r'<container id="([^"]+)"', text):
            n += count(url, cid, depth + 1)
    return n


url, want = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 20.0)
got = -1
while time.monotonic() < deadline:
    try:
        got = count(url, "64")
    except OSError:
        got = -1
    if got >= want:
        sys.exit(0)
    time.sleep(0.3)
sys.exit(f"minidlna indexed {got} of {want} items")
