"""The full job on the lab: discover, probe and report, nasscan against nmap with NSE scripts.

Starts its own lab (``nasscan lab --ns nasscan-bench-lab-<pid> up --only ...``: real daemons in a
loopback-only namespace), runs both tools inside it ``--runs`` times (interleaved), and scores
each run against the lab manifest (``scanner/lab/data/expected.d``):

- positives: manifest targets that MUST get an ``unauthenticated-access`` finding; a tool scores
  one when it reports that target as open without authentication (nasscan: a finding matching
  the manifest pattern; nmap: the script output that says so, see ``nmap_unauthenticated``);
- twins: targets that MUST NOT get one; a tool that reports one there has a false positive;
- nasscan's report is also checked against the whole manifest (``scanner.lab.manifest.check``:
  every must/must-not pattern, service detection and protocol).

NFS is left out by default: rpcbind's socket is one path per machine, shared by every lab, so a
second rpcbind would disturb labs other people run at the same time (``--services`` adds it).
The lab is always stopped at the end (``nasscan lab down``).

    .venv/bin/python bench/lab_job.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NASSCAN = str(ROOT / ".venv" / "bin" / "nasscan") if (ROOT / ".venv").exists() else "nasscan"
SERVICES = "smb,ftp,http,rsync,s3,iscsi,tftp"
NMAP_UDP = False  # --nmap-udp: also -sU on the UDP ports (tftp-enum); minutes, ICMP rate limit
NSE = (
    "ftp-anon,smb-protocols,smb2-security-mode,smb-enum-shares,nfs-showmount,nfs-ls,"
    "rsync-list-modules,http-ls,http-webdav-scan,iscsi-info,tftp-enum"
)


def ports_of(manifest: Any) -> tuple[list[int], list[int]]:
    tcp = sorted({t.port for t in manifest.targets if t.transport == "tcp"})
    udp = sorted({t.port for t in manifest.targets if t.transport == "udp"})
    return tcp, udp


def nasscan_cmd(tcp: list[int], udp: list[int], out: str) -> list[str]:
    spec = ",".join([f"T:{p}" for p in tcp] + [f"U:{p}" for p in udp])
    return [
        NASSCAN, "scan", "127.0.10.0/24", "-p", spec, "--format", "json", "-o", out,
        "--quiet", "--yes", "--fail-on", "critical",
    ]  # fmt: skip


def in_lab(ns: str, cmd: list[str], exec_argv: Any) -> tuple[list[str], dict[str, str]]:
    """argv and env that run ``cmd`` inside the lab's namespace. Bytecode may be written (a
    shell with PYTHONDONTWRITEBYTECODE=1 would otherwise make every run compile every module:
    not what an installed nasscan does)."""
    argv, env = exec_argv(ns, cmd)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return argv, env


def nmap_cmd(tcp: list[int], udp: list[int], out: str) -> list[str]:
    if not NMAP_UDP:
        udp = []
    spec = ",".join([f"T:{p}" for p in tcp] + [f"U:{p}" for p in udp])
    scans = ["-sT", "-sU"] if udp else ["-sT"]
    return [
        "nmap", *scans, "-Pn", "-n", "-T4", "-p", spec, "--script", NSE, "-oX", out,
        "127.0.10.0/24",
    ]  # fmt: skip


def nmap_unauthenticated(xml_path: str) -> set[tuple[str, int]]:
    """(host, port) pairs nmap's scripts report as readable without authentication."""
    hits: set[tuple[str, int]] = set()
    root = ET.parse(xml_path).getroot()
    for host in root.iter("host"):
        addr_el = host.find("address")
        if addr_el is None:
            continue
        addr = addr_el.get("addr", "")
        for port in host.iter("port"):
            pnum = int(port.get("portid", "0"))
            for script in port.iter("script"):
                sid, out = script.get("id", ""), script.get("output", "")
                if (
                    (sid == "ftp-anon" and "Anonymous FTP login allowed" in out)
                    or (sid == "http-ls" and "Volume" in out)
                    or (sid == "http-webdav-scan" and "PROPFIND" in out)
                    or (sid == "rsync-list-modules" and out.strip() and "ERROR" not in out)
                    or (sid == "iscsi-info" and "NOT required" in out)
                    or (sid == "tftp-enum" and out.strip())
                    or (sid in ("nfs-showmount", "nfs-ls") and "/export" in out)
                ):
                    hits.add((addr, pnum))
        hostscript = host.find("hostscript")
        if hostscript is not None:
            for script in hostscript.iter("script"):
                if script.get("id") != "smb-enum-shares":
                    continue
                for block in script.get("output", "").split("\\\\")[1:]:
                    share = block.split("\n", 1)[0]
                    if share.rstrip(":").upper().endswith("IPC$"):
                        continue
                    if "Anonymous access: READ" in block or (
                        "account_used: guest" in script.get("output", "")
                        and "Current user access: READ" in block
                    ):
                        hits.add((addr, 445))
    return hits


def score(
    manifest: Any, reported: set[tuple[str, int]], positives: list[Any], twins: list[Any]
) -> tuple[int, int]:
    found = sum((t.host, t.port) in reported for t in positives)
    false = sum((t.host, t.port) in reported for t in twins)
    return found, false


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--services", default=SERVICES)
    ap.add_argument("--nmap-udp", action="store_true", help="nmap also scans UDP (slow)")
    a = ap.parse_args()
    global NMAP_UDP
    NMAP_UDP = a.nmap_udp
    from scanner.lab import manifest as mf

    services = a.services.split(",")
    manifest = mf.load().for_services(services)
    tcp, udp = ports_of(manifest)
    positives = [
        t for t in manifest.targets if any(p["kind"] == "unauthenticated-access" for p in t.must)
    ]
    # Twins: the whole service must not be reported open (a bare must-not pattern; a must-not
    # on one share or on write access of an open server is not a twin at host:port level).
    twins = [
        t
        for t in manifest.targets
        if any(p == {"kind": "unauthenticated-access"} for p in t.must_not)
    ]
    ns = f"nasscan-bench-lab-{os.getpid()}"
    lab = [NASSCAN, "lab", "--ns", ns]
    results: dict[str, list[tuple[float, int, int, int]]] = {"nasscan": [], "nmap+NSE": []}
    missed: dict[str, set[str]] = {"nasscan": set(), "nmap+NSE": set()}
    try:
        subprocess.run([*lab, "up", "--only", a.services], check=True, capture_output=True)
        from scanner.lab.supervisor import exec_argv

        with tempfile.TemporaryDirectory(prefix="nasscan-bench-lab-") as tmp:
            for tool in results:  # warm-up, not timed: bytecode written, files in the page cache
                cmd = (nasscan_cmd if tool == "nasscan" else nmap_cmd)(tcp, udp, f"{tmp}/warm")
                argv, env = in_lab(ns, cmd, exec_argv)
                subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
            for i in range(a.runs):
                for tool in results:
                    out = str(Path(tmp) / f"{tool}-{i}")
                    cmd = (nasscan_cmd if tool == "nasscan" else nmap_cmd)(tcp, udp, out)
                    # Timed: the tool itself inside the lab's namespace (`ip netns exec`), not
                    # `nasscan lab exec`, whose own start-up is not the scan's.
                    argv, env = in_lab(ns, cmd, exec_argv)
                    t0 = time.perf_counter()
                    subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
                    wall = time.perf_counter() - t0
                    problems = -1
                    if tool == "nasscan":
                        rep = json.loads(Path(out).read_text())
                        reported = {
                            (f["host"], f["port"])
                            for f in rep["findings"]
                            if f["kind"] == "unauthenticated-access"
                        }
                        problems = len(mf.check(manifest, rep["findings"], rep["services"]))
                    else:
                        reported = nmap_unauthenticated(out)
                    found, false = score(manifest, reported, positives, twins)
                    missed[tool] |= {t.name for t in positives if (t.host, t.port) not in reported}
                    results[tool].append((wall, found, false, problems))
    finally:
        subprocess.run([*lab, "down"], check=False, capture_output=True)
    print(
        f"### The lab job ({a.services}; {len(manifest.targets)} targets, "
        f"{len(positives)} open without authentication, {len(twins)} secured twins)"
    )
    print()
    print(
        "| tool | median s | min s | max s | unauthenticated found | false positives on twins "
        "| nasscan manifest problems |"
    )
    print("|---|---:|---:|---:|---|---|---:|")
    for tool, rs in results.items():
        walls = [r[0] for r in rs]
        print(
            f"| {tool} | {statistics.median(walls):.2f} | {min(walls):.2f} | {max(walls):.2f} "
            f"| {min(r[1] for r in rs)}-{max(r[1] for r in rs)}/{len(positives)} "
            f"| {max(r[2] for r in rs)}/{len(twins)} "
            f"| {max(r[3] for r in rs) if tool == 'nasscan' else 'n/a'} |"
        )
    print()
    for tool, names in missed.items():
        print(f"- {tool} missed (in any run): {', '.join(sorted(names)) or 'nothing'}")
    print()
    print("```")
    print(" ".join(nasscan_cmd(tcp, udp, "OUT")).replace(str(ROOT) + "/", ""))
    print(" ".join(nmap_cmd(tcp, udp, "OUT")))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
