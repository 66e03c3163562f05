"""Discovery benchmarks: nasscan's sweep against nmap (and masscan if installed) on the same work.

Every workload runs inside a network namespace this script creates (``nasscan-bench-<pid>``) whose
only interface is loopback: the listeners, the scanners and the silent-host firewall rule all live
there, nothing reaches the host namespace or leaves the machine, and the namespace is deleted at
the end (also on Ctrl-C / SIGTERM). Needs root (``ip netns``); ``--no-netns`` runs the tiny
workload on 127.x in the current namespace instead (for CI without root).

    sudo .venv/bin/python bench/run.py W1 W2 W3 --runs 5          # the real numbers
    .venv/bin/python bench/run.py tiny --runs 1                    # seconds; scripts do not rot

Each run checks recall: the open ports a tool reports must equal the planted listeners exactly.
Wall time is measured around the whole command (start-up included, for every tool alike); peak
memory (max RSS) and CPU come from ``/usr/bin/time``. The table gives medians of ``--runs`` runs
(interleaved, tool after tool) and each peer's median over nasscan's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
NASSCAN = str(ROOT / ".venv" / "bin" / "nasscan") if (ROOT / ".venv").exists() else "nasscan"
CEILING: str | None = None  # bench/ceiling.c, compiled at start when a C compiler exists
STORAGE_PORTS = [21, 80, 111, 139, 443, 445, 548, 873, 2049, 3260, 8080, 9000]


@dataclass
class Workload:
    name: str
    targets: str
    ports: list[int]
    planted: list[tuple[str, int]]
    silent_odd_hosts: bool = False  # drop SYNs to every odd address (half the hosts)
    rules: str = ""  # nftables rules (inside the namespace) instead of silent_odd_hosts
    defaults: bool = False  # nasscan-cli without --timeout/--retries (the program's defaults)
    cli_args: list[str] | None = None  # nasscan-cli: these instead of "-p PORTS --probes none"
    timeout: float = 1.0  # nasscan connect timeout
    retries: int = 1
    tools: list[str] = field(default_factory=list)
    note: str = ""


# W4: a sparse network. Every address drops every packet except those whose last five bits are 0
# (512 of 16,384 = 3.1 %), the scanner's own 127.0.0.1, and 127.0.33.7, a "filtered host" that
# drops everything but TCP 445 where a listener waits (recall must stay exact with liveness).
W4_PLANTED = [
    ("127.0.0.32", 445),
    ("127.0.3.64", 21),
    ("127.0.7.96", 80),
    ("127.0.12.128", 2049),
    ("127.0.18.160", 873),
    ("127.0.25.192", 9000),
    ("127.0.40.224", 139),
    ("127.0.52.0", 3260),
    ("127.0.63.32", 8080),
    ("127.0.33.7", 445),
]
W4_RULES = (
    "table inet nasscan_bench {\n"
    "  chain input { type filter hook input priority 0; policy accept;\n"
    "    ip daddr != { 127.0.0.1, 127.0.33.7 } ip daddr & 0.0.0.31 != 0.0.0.0 drop\n"
    "    ip daddr 127.0.33.7 tcp dport != 445 drop\n"
    "  }\n"
    "}\n"
)

WORKLOADS = {
    "W1": Workload(
        "W1",
        "127.0.0.0/20",
        STORAGE_PORTS,
        [
            ("127.0.0.10", 445),
            ("127.0.1.20", 21),
            ("127.0.3.30", 80),
            ("127.0.7.40", 2049),
            ("127.0.11.50", 873),
            ("127.0.15.60", 9000),
        ],
        tools=["nasscan-sweep", "nasscan-cli", "nmap-sT", "nmap-sS", "c-ceiling"],
        note="127.0.0.0/20 x 12 ports = 49,152 probes, six listeners",
    ),
    "W2": Workload(
        "W2",
        "127.0.0.0/16",
        STORAGE_PORTS,
        [
            ("127.0.0.10", 445),
            ("127.0.31.20", 21),
            ("127.0.77.30", 80),
            ("127.0.130.40", 2049),
            ("127.0.201.50", 873),
            ("127.0.255.60", 9000),
        ],
        tools=["nasscan-sweep", "nasscan-cli", "nmap-sT", "nmap-sS", "c-ceiling"],
        note="127.0.0.0/16 x 12 ports = 786,432 probes, six listeners",
    ),
    "W3": Workload(
        "W3",
        "127.0.0.0/20",
        STORAGE_PORTS,
        [
            ("127.0.0.10", 445),
            ("127.0.1.20", 21),
            ("127.0.3.30", 80),
            ("127.0.7.40", 2049),
            ("127.0.11.50", 873),
            ("127.0.15.60", 9000),
        ],
        silent_odd_hosts=True,
        timeout=0.25,
        retries=1,
        tools=[
            "nasscan-sweep",
            "nasscan-cli",
            "nasscan-cli-c16384",
            "nmap-sT-tuned",
            "nmap-sS-tuned",
        ],
        note="W1's space, SYNs to every odd address dropped in the namespace (2,048 silent hosts)",
    ),
    "W4": Workload(
        "W4",
        "127.0.0.0/18",
        STORAGE_PORTS,
        W4_PLANTED,
        rules=W4_RULES,
        defaults=True,
        tools=["nasscan-cli", "nasscan-cli-connect", "nmap-sT", "masscan"],
        note="127.0.0.0/18 x 12 ports = 196,608 probes; 97% of addresses drop every packet "
        "(only x.x.x.0 mod 32 answer, plus one host that drops all ports but 445); "
        "10 listeners; nasscan with default settings",
    ),
    "U1": Workload(
        "U1",
        "127.0.0.0/16",
        [],
        [],
        defaults=True,
        cli_args=["--probes", "tftp"],
        tools=["nasscan-cli"],
        note="the TFTP probe (UDP 69) over 127.0.0.0/16 where no TFTP server exists "
        "(every address answers ICMP port unreachable), default settings",
    ),
    "U2": Workload(
        "U2",
        "127.0.0.0/16",
        [],
        [],
        defaults=True,
        cli_args=[],
        tools=["nasscan-cli"],
        note="a whole default scan (every probe, default ports, TFTP included) of "
        "127.0.0.0/16 where nothing listens",
    ),
    "tiny": Workload(
        "tiny",
        "127.0.0.0/26",
        [21, 80, 445, 2049],
        [("127.0.0.10", 445), ("127.0.0.20", 21), ("127.0.0.31", 80)],
        tools=["nasscan-sweep", "nasscan-cli", "nmap-sT"],
        note="127.0.0.0/26 x 4 ports = 256 probes, three listeners (CI smoke run)",
    ),
}


# -- tools ---------------------------------------------------------------------------------------


def _ports(w: Workload) -> str:
    return ",".join(str(p) for p in w.ports)


def _nmap(w: Workload, scan: str, tuned: bool) -> list[str]:
    cmd = ["nmap", scan, "-Pn", "-n", "-T5", "--min-hostgroup", "4096", "-p", _ports(w)]
    if tuned:
        cmd += [
            "--max-retries",
            "1",
            "--initial-rtt-timeout",
            "250ms",
            "--max-rtt-timeout",
            "250ms",
            "--min-parallelism",
            "4096",
        ]
    return [*cmd, "-oG", "-", w.targets]


def command(tool: str, w: Workload, outfile: str) -> list[str] | None:
    if tool in ("nasscan-sweep", "nasscan-syn"):
        syn = ["--syn", "--concurrency", "30000"] if tool == "nasscan-syn" else []
        return [
            PY,
            str(ROOT / "bench" / "sweep_driver.py"),
            w.targets,
            "-p",
            _ports(w),
            "--timeout",
            str(w.timeout),
            "--retries",
            str(w.retries),
            *syn,
        ]
    if tool.startswith("nasscan-cli"):
        extra = []
        if tool == "nasscan-cli-connect":
            extra = ["--connect"]
        elif tool.startswith("nasscan-cli-c"):  # e.g. nasscan-cli-c16384: --concurrency 16384
            extra = ["--concurrency", tool.removeprefix("nasscan-cli-c")]
        timing = [] if w.defaults else ["--timeout", str(w.timeout), "--retries", str(w.retries)]
        what = ["-p", _ports(w), "--probes", "none"] if w.cli_args is None else w.cli_args
        return [
            NASSCAN,
            "scan",
            w.targets,
            *what,
            *timing,
            "--format",
            "json",
            "-o",
            outfile,
            "--quiet",
            "--yes",
            "--fail-on",
            "critical",
            *extra,
        ]
    if tool == "c-ceiling":
        if CEILING is None:
            return None
        base, prefix = w.targets.split("/")
        return [CEILING, base, prefix, _ports(w), str(os.cpu_count() or 1)]
    if tool.startswith("nmap"):
        if not shutil.which("nmap"):
            return None
        return _nmap(w, "-sS" if "-sS" in tool else "-sT", tool.endswith("-tuned"))
    if tool == "masscan":
        if not shutil.which("masscan"):
            return None
        return [
            "masscan",
            w.targets,
            "-p",
            _ports(w),
            "--rate",
            "1000000",
            "--wait",
            "1",
            "--adapter",
            "lo",
            "--adapter-ip",
            "127.0.0.1",
            "--router-mac",
            "00:00:00:00:00:00",
            "-oL",
            outfile,
        ]
    raise ValueError(f"unknown tool {tool}")


def parse(tool: str, stdout: str, outfile: str) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    if tool in ("nasscan-sweep", "nasscan-syn", "c-ceiling"):
        for line in stdout.splitlines():
            host, port = line.split()
            found.add((host, int(port)))
    elif tool.startswith("nasscan-cli"):
        report = json.loads(Path(outfile).read_text())
        for svc in report.get("services", []):
            found.add((svc["host"], int(svc["port"])))
    elif tool.startswith("nmap"):
        for line in stdout.splitlines():
            if not line.startswith("Host:") or "Ports:" not in line:
                continue
            host = line.split()[1]
            for item in line.split("Ports:", 1)[1].split("\t")[0].split(","):
                parts = item.strip().split("/")
                if len(parts) > 2 and parts[1] == "open":
                    found.add((host, int(parts[0])))
    elif tool == "masscan":
        text = Path(outfile).read_text() if Path(outfile).exists() else ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "open":
                found.add((parts[3], int(parts[2])))
    return found


# -- the namespace -------------------------------------------------------------------------------


class Netns:
    """A loopback-only namespace that is always removed, with our planted listener inside."""

    def __init__(self, use: bool) -> None:
        self.use = use
        self.name = f"nasscan-bench-{os.getpid()}"
        self.planter: subprocess.Popen[str] | None = None
        self.created = False

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name] if self.use else []

    def __enter__(self) -> Netns:
        if self.use:
            subprocess.run(["ip", "netns", "add", self.name], check=True)
            self.created = True
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        return self

    def firewall(self, silent_odd_hosts: bool, rules: str = "") -> None:
        """Inside the namespace only: drop SYNs (not replies) to every odd address, or
        apply ``rules``."""
        if not self.use:
            return
        subprocess.run([*self.prefix(), "nft", "flush", "ruleset"], check=True, capture_output=True)
        if rules:
            subprocess.run([*self.prefix(), "nft", "-f", "-"], input=rules, text=True, check=True)
        elif silent_odd_hosts:
            rules = (
                "table inet nasscan_bench {\n"
                "  chain input { type filter hook input priority 0; policy accept;\n"
                "    ip daddr & 0.0.0.1 == 0.0.0.1 tcp flags & (syn | ack) == syn drop\n"
                "  }\n"
                "}\n"
            )
            subprocess.run([*self.prefix(), "nft", "-f", "-"], input=rules, text=True, check=True)

    def plant(self, pairs: list[tuple[str, int]]) -> None:
        self.unplant()
        args = [f"{h}:{p}" for h, p in pairs]
        self.planter = subprocess.Popen(
            [*self.prefix(), PY, str(ROOT / "bench" / "plant.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.planter.stdout is not None
        line = self.planter.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("planted listeners did not start")

    def unplant(self) -> None:
        p = self.planter
        if p is None:
            return
        self.planter = None
        with contextlib.suppress(OSError):
            assert p.stdin is not None
            p.stdin.close()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()  # our own child, by PID
            p.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.unplant()
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], check=False)
            self.created = False


# -- running -------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    exact: bool
    missing: int
    extra: int
    rc: int


def run_once(ns: Netns, tool: str, w: Workload, limit: float) -> Run | None:
    with tempfile.TemporaryDirectory(prefix="nasscan-bench-") as tmp:
        outfile = str(Path(tmp) / "out")
        cmd = command(tool, w, outfile)
        if cmd is None:
            return None
        timefile = str(Path(tmp) / "time")
        timer = ["/usr/bin/time", "-f", "%U %S %M", "-o", timefile]
        full = [*ns.prefix(), *(timer if os.path.exists(timer[0]) else []), *cmd]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(full, capture_output=True, text=True, timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            return Run(limit, float("nan"), float("nan"), False, -1, -1, -9)
        wall = time.perf_counter() - t0
        try:
            user, sys_, rss = Path(timefile).read_text().split()[-3:]
            cpu, rss_mb = float(user) + float(sys_), int(rss) / 1024
        except (OSError, ValueError):
            cpu = rss_mb = float("nan")
        try:
            found = parse(tool, proc.stdout, outfile)
        except (OSError, ValueError, KeyError):
            found = set()
        planted = set(w.planted)
        if proc.returncode not in (0, 1) or found != set(w.planted):
            # Shown on stderr so a miss is explained (the table only counts it).
            sys.stderr.write(
                f"bench: {w.name} {tool}: rc={proc.returncode}, missing "
                f"{sorted(set(w.planted) - found)}, extra {sorted(found - set(w.planted))[:5]}: "
                f"{proc.stderr.strip()[-800:]}\n"
            )
        return Run(
            wall,
            cpu,
            rss_mb,
            found == planted,
            len(planted - found),
            len(found - planted),
            proc.returncode,
        )


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench(ns: Netns, w: Workload, runs: int, tools: list[str], limit: float) -> list[str]:
    ns.firewall(w.silent_odd_hosts, w.rules)
    ns.plant(w.planted)
    results: dict[str, list[Run]] = {t: [] for t in tools}
    skipped: set[str] = set()
    for _ in range(runs):
        for tool in tools:
            if tool in skipped:
                continue
            r = run_once(ns, tool, w, limit)
            if r is None:
                skipped.add(tool)
                continue
            results[tool].append(r)
    ns.unplant()
    ns.firewall(False)
    ref = median([r.wall for r in results.get(tools[0], [])])
    lines = [
        f"### {w.name}: {w.note}",
        "",
        f"| tool | median s | min s | max s | CPU s | peak RSS MB | exact recall | vs {tools[0]} |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for tool in tools:
        rs = results[tool]
        if not rs:
            lines.append(f"| {tool} | not installed | | | | | | |")
            continue
        walls = [r.wall for r in rs]
        exact = sum(r.exact for r in rs)
        miss = max(r.missing for r in rs)
        extra = max(r.extra for r in rs)
        recall = f"{exact}/{len(rs)}"
        if exact != len(rs):
            recall += f" (miss<={miss} extra<={extra})"
        m = median(walls)
        lines.append(
            f"| {tool} | {m:.3f} | {min(walls):.3f} | {max(walls):.3f} | "
            f"{median([r.cpu for r in rs]):.2f} | {median([r.rss_mb for r in rs]):.1f} | "
            f"{recall} | {m / ref:.2f}x |"
        )
    lines += ["", "Commands (inside the namespace, each under `/usr/bin/time -f '%U %S %M'`):", ""]
    lines.append("```")
    for tool in tools:
        cmd = command(tool, w, "OUT")
        if cmd is not None:
            shown = [os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd]
            shown = ["bench/ceiling" if c == CEILING else c for c in shown]
            lines.append(" ".join(shown))
    lines += ["```", ""]
    return lines


def machine() -> list[str]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "not installed"
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"

    load = os.getloadavg()
    return [
        f"- machine: {platform.node()}, {cpu}, {os.cpu_count()} CPUs, kernel {platform.release()}",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- python: {platform.python_version()}; nmap: {version(['nmap', '--version'])}; "
        f"masscan: {version(['masscan', '--version'])}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workloads", nargs="+", choices=sorted(WORKLOADS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tools", default=None, help="comma-separated subset of the workload's tools")
    ap.add_argument("--limit", type=float, default=600.0, help="seconds before a run is killed")
    ap.add_argument("--no-netns", action="store_true", help="tiny only: run on 127.x here")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every run was exact")
    a = ap.parse_args()
    if a.no_netns and set(a.workloads) != {"tiny"}:
        ap.error("--no-netns is only allowed for the tiny workload")
    global CEILING
    show: Callable[[str], None] = print
    build = Path(tempfile.mkdtemp(prefix="nasscan-bench-build-"))
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        exe = build / "ceiling"
        done = subprocess.run(
            [cc, "-O2", "-o", str(exe), str(ROOT / "bench" / "ceiling.c")], check=False
        )
        CEILING = str(exe) if done.returncode == 0 else None
    for ln in ["## Environment", "", *machine(), ""]:
        show(ln)
    ok = True
    with signals_raise(), Netns(use=not a.no_netns) as ns:
        for name in a.workloads:
            w = WORKLOADS[name]
            if a.no_netns:
                # Outside a namespace: addresses nobody else uses, ports the host does not serve.
                w = Workload(
                    w.name,
                    "127.99.0.0/26",
                    [47021, 47080, 47445, 47049],
                    [("127.99.0.10", 47445), ("127.99.0.20", 47021), ("127.99.0.31", 47080)],
                    tools=["nasscan-sweep", "nasscan-cli"],
                    note=w.note + "; no namespace",
                )
            tools = a.tools.split(",") if a.tools else w.tools
            lines = bench(ns, w, a.runs, tools, a.limit)
            # --check: nasscan's own rows must be exact in every run (peers are only reported).
            ok = ok and all(
                f"| {a.runs}/{a.runs} |" in ln for ln in lines if ln.startswith("| nasscan")
            )
            for ln in lines:
                show(ln)
            sys.stdout.flush()
    shutil.rmtree(build, ignore_errors=True)
    if a.check and not ok:
        print("bench: a tool missed planted ports or found extra ones", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
