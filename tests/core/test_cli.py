"""The command line: exit codes, one-line errors, output formats valid against the schema.

Scans here only target listeners these tests start on 127.0.56.x; the guard-rail tests use
public or large scopes precisely because they are refused before anything is sent.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from repo_paths import REPO_ROOT

from scanner.cli import main
from scanner.report import schema as report_schema

# the test plug-in probe (plugintest) answers the servers below
pytestmark = pytest.mark.usefixtures("plugin_probe")


class _Greeter(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        greeting = self.server.greeting  # type: ignore[attr-defined]
        self.request.sendall(greeting)
        if b"HANG" in greeting:
            time.sleep(10)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Scanners reset connections; that is not worth a traceback on stderr."""


def _serve(host: str, greeting: bytes) -> tuple[_Server, int]:
    srv = _Server((host, 0), _Greeter)
    srv.greeting = greeting  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv, srv.server_address[1]


@pytest.fixture
def servers() -> Iterator[dict[str, int]]:
    made = []
    ports = {}
    for name, host, greeting in [
        ("plugin", "127.0.56.1", b"220 nasscan-plugin-test ready\r\n"),
        ("hang", "127.0.56.2", b"220 nasscan-plugin-test HANG\r\n"),
        ("other", "127.0.56.3", b"SSH-2.0-not-storage\r\n"),
    ]:
        srv, port = _serve(host, greeting)
        made.append(srv)
        ports[name] = port
    yield ports
    for srv in made:
        srv.shutdown()
        srv.server_close()


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "token"),
    [
        (["scan", "127.0.0.0/33"], "127.0.0.0/33"),
        (["scan", "127.0.0.9-127.0.0.1"], "127.0.0.9-127.0.0.1"),
        (["scan", "127.0.0.1-300"], "127.0.0.1-300"),
        (["scan", "-iL", "/nonexistent/targets.txt"], "/nonexistent/targets.txt"),
        (["scan", "127.0.0.1", "--exclude-file", "/nonexistent/ex.txt"], "/nonexistent/ex.txt"),
        (["scan", "127.0.0.1", "--excludefile", "/nonexistent/ex2.txt"], "/nonexistent/ex2.txt"),
        (["scan", "127.0.0.1", "--max-retries", "-1"], "-1"),
        (["scan", "127.0.0.1", "--probes", "smb,nope"], "nope"),
        (["scan", "127.0.0.1", "-p", "80,http"], "http"),
        (["scan", "127.0.0.1", "-p", "90-80"], "90-80"),
        (["scan", "127.0.0.1", "--shard", "3/2"], "3/2"),
        (["scan", "127.0.0.1", "--exclude", "127.0.0.0/8"], "empty after exclusions"),
        (["scan", "127.0.0.1", "--probe-option", "nfs.uid"], "nfs.uid"),
        (["scan", "127.0.0.1", "--rules", "/nonexistent/rules.toml"], "/nonexistent/rules.toml"),
        (["scan", "127.0.0.1", "--bogus"], "--bogus"),
        (["scan", "127.0.0.1", "--rate", "fast"], "fast"),
        (["scan", "127.0.0.1", "--format", "xml"], "xml"),
        (["scan"], "no targets"),
        # guard rails: refused before anything is sent
        (["scan", "8.8.8.8"], "public"),
        (["scan", "10.0.0.0/15"], "more than a /16"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str], token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nasscan: error:")
    assert token in lines[0]
    assert "Traceback" not in err


def test_unresolvable_name_is_a_warning_unless_nothing_resolves(tmp_path: Path) -> None:
    """In a fresh network namespace (``unshare -n``) so the DNS query cannot leave the machine.

    As in nmap: a name that does not resolve is skipped with a warning (in ``errors``) and the
    rest is scanned; a scope in which nothing resolves is a one-line usage error."""
    nasscan = Path(sys.executable).with_name("nasscan")
    out = tmp_path / "x.json"
    proc = subprocess.run(
        ["unshare", "-n", str(nasscan), "scan", "127.0.0.1", "no-such-host.invalid", "-p", "9",
         "--probes", "none", "--no-history", "-oJ", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["errors"] == ["cannot resolve hostname 'no-such-host.invalid': target skipped"]
    assert data["scope"]["hosts"] == 1 and data["scope"]["unresolved"] == ["no-such-host.invalid"]
    assert "no-such-host.invalid" in proc.stderr  # the warning is also on stderr
    proc = subprocess.run(
        ["unshare", "-n", str(nasscan), "scan", "no-such-host.invalid", "--no-history"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "nasscan: error: cannot resolve hostname: 'no-such-host.invalid'"
    ]


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("nasscan, version ")
    code, out, _ = run(["scan", "--version"], capsys)
    assert code == 0 and out.startswith("nasscan, version ")
    code, out, _ = run(["scan", "--help"], capsys)
    assert code == 0 and "--fail-on" in out and "--shard" in out and "-iL" in out


def test_json_report_valid_and_exit_codes(
    servers: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "report.json"
    base = ["scan", "127.0.56.1", "127.0.56.3", "-p", f"{servers['plugin']},{servers['other']}"]
    base += ["--probes", "plugintest", "--timeout", "0.5", "--format", "json", "-o", str(out_file)]
    code, _, err = run(base, capsys)
    assert code == 1, err  # the plug-in's finding is at least low
    data = json.loads(out_file.read_text())
    jsonschema.validate(data, report_schema.load())
    assert data["scanner"]["name"] == "nasscan"
    assert data["started_at"].endswith("Z") or "+00:00" in data["started_at"]
    services = {(s["host"], s["port"]) for s in data["services"]}
    assert services == {("127.0.56.1", servers["plugin"]), ("127.0.56.3", servers["other"])}
    (finding,) = data["findings"]
    for key in (
        "id",
        "host",
        "port",
        "transport",
        "protocol",
        "kind",
        "authentication",
        "encryption",
        "resource",
        "access",
        "severity",
        "title",
        "evidence",
        "remediation",
    ):
        assert key in finding
    assert finding["protocol"] == "plugintest" and finding["host"] == "127.0.56.1"
    severity = finding["severity"]
    stricter = {"info": "low", "low": "medium", "medium": "high", "high": "critical"}
    if severity in stricter:
        code, _, _ = run([*base, "--fail-on", stricter[severity]], capsys)
        assert code == 0
    code, _, _ = run([*base, "--fail-on", severity], capsys)
    assert code == 1
    code, _, _ = run([*base, "--fail-on", "none"], capsys)
    assert code == 0


def test_discovery_only_stdout_json_and_stdin_targets(
    servers: dict[str, int], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("127.0.56.1\n127.0.56.3 # comment\n"))
    args = ["scan", "-iL", "-", "--exclude", "127.0.56.3", "-p", str(servers["plugin"])]
    code, out, _ = run([*args, "--probes", "none", "--format", "json", "--quiet"], capsys)
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, report_schema.load())
    assert [(s["host"], s["port"], s["probes"]) for s in data["services"]] == [
        ("127.0.56.1", servers["plugin"], {})
    ]
    assert data["findings"] == [] and data["scope"]["exclusions"] == ["127.0.56.3"]


def test_console_output(servers: dict[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scan", "127.0.56.1", "-p", str(servers["plugin"]), "--probes", "plugintest"]
    code, out, _ = run(args, capsys)
    assert code == 1
    assert "Findings" in out and "plugintest" in out and "unauthenticated-access" in out
    assert "1 open services, 1 findings" in out


def test_jsonl_streams_and_ctrl_c_exits_3(servers: dict[str, int], tmp_path: Path) -> None:
    out_file = tmp_path / "findings.jsonl"
    nasscan = Path(sys.executable).with_name("nasscan")
    proc = subprocess.Popen(
        [str(nasscan), "scan", "127.0.56.1", "127.0.56.2",
         "-p", f"{servers['plugin']},{servers['hang']}", "--probes", "plugintest",
         "--probe-timeout", "60", "--format", "jsonl", "-o", str(out_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if out_file.exists() and out_file.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        lines = out_file.read_text().splitlines()
        assert len(lines) == 1, "the finding was not streamed while the scan was running"
        assert proc.poll() is None, "the scan should still be waiting on the hanging probe"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert b"Traceback" not in err
    finding = json.loads(lines[0])
    jsonschema.validate(finding, report_schema.finding_schema())
    assert finding["host"] == "127.0.56.1"


def test_shipped_schema_matches_the_model() -> None:
    assert report_schema.load() == report_schema.generate(), (
        "scanner/schema/report.schema.json is stale: run python -m scanner.report.schema --write"
    )


def test_probes_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["probes"], capsys)
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["NAME", "PORTS", "TRANSPORT", "INTRUSIVE", "DESCRIPTION"]
    assert any(line.startswith("plugintest ") for line in out.splitlines())


def test_never_sends_outside_loopback_here() -> None:
    """Sanity for this file: every address used above is 127.x (or refused before sending)."""
    for host in ("127.0.56.1", "127.0.56.2", "127.0.56.3"):
        assert socket.inet_aton(host)[0] == 127
    assert os.environ.get("NASSCAN_NEVER_SET_THIS") is None


def test_low_fd_limit_is_not_reported_as_closed_ports(tmp_path: Path) -> None:
    """At a soft and hard limit of 256 descriptors, --concurrency 4000 is sized down and the
    sweep still finds exactly the planted ports, with no scan errors (no EMFILE 'closed')."""
    import resource

    first = socket.socket()
    first.bind(("127.0.60.7", 0))
    port = first.getsockname()[1]
    second = socket.socket()
    second.bind(("127.0.62.200", port))
    for s in (first, second):
        s.listen(64)
    out_file = tmp_path / "fd.json"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    nasscan = Path(sys.executable).with_name("nasscan")
    try:
        proc = subprocess.run(
            [str(nasscan), "scan", "127.0.60.0/22", "-p", f"{port},{port + 1}",
             "--probes", "none", "--concurrency", "4000", "--format", "json",
             "-o", str(out_file), "--quiet"],
            preexec_fn=limit, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        first.close()
        second.close()
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out_file.read_text())
    assert data["scope"]["fd_limit"] == 256
    assert data["scope"]["concurrency"] < 256
    assert data["errors"] == []
    assert {(s["host"], s["port"]) for s in data["services"]} == {
        ("127.0.60.7", port),
        ("127.0.62.200", port),
    }
    sweep = data["scope"]["sweep"]
    assert sweep["attempted"] == 2048 and sweep["unresolved"] == 0
    assert sweep["open"] + sweep["closed"] == 2048


def test_shards_split_the_work_and_cover_it(
    servers: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ports = f"{servers['plugin']},{servers['other']}"
    found: list[tuple[str, int]] = []
    attempted = 0
    for i in (1, 2, 3):
        out = tmp_path / f"shard{i}.json"
        args = ["scan", "127.0.56.0/28", "-p", ports, "--probes", "none", "--seed", "7"]
        code, _, err = run([*args, "--shard", f"{i}/3", "--format", "json", "-o", str(out)], capsys)
        assert code == 0, err
        data = json.loads(out.read_text())
        assert data["scope"]["shard"] == f"{i}/3"
        attempted += data["scope"]["sweep"]["attempted"]
        found += [(s["host"], s["port"]) for s in data["services"]]
    assert attempted == 16 * 2
    assert sorted(found) == sorted(
        [("127.0.56.1", servers["plugin"]), ("127.0.56.3", servers["other"])]
    )


@pytest.mark.parametrize("fmt", ["csv", "sarif", "html"])
def test_other_formats_render(
    fmt: str, servers: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["scan", "127.0.56.1", "-p", str(servers["plugin"]), "--probes", "plugintest"]
    code, out, err = run([*args, "--format", fmt], capsys)
    assert code == 1, err
    assert "127.0.56.1" in out
    if fmt == "sarif":
        assert json.loads(out)["version"] == "2.1.0"


def test_nmap_style_outputs_all_in_one_run(
    servers: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-oA writes every format; -oJ FILE is a JSON file (not '-o J' plus a target); files are
    owner-only; stdout still gets the console."""
    base = tmp_path / "scan"
    extra = tmp_path / "x.json"
    args = ["scan", "127.0.56.1", "-p", str(servers["plugin"]), "--probes", "plugintest",
            "-oA", str(base), "-oJ", str(extra)]
    code, out, err = run(args, capsys)
    assert code == 1, err
    assert not (Path.cwd() / "J").exists()
    assert "Exposed services" in out or "Findings: 1" in out
    files = {ext: base.with_name("scan" + ext) for ext in
             (".txt", ".json", ".sarif", ".csv", ".html", ".jsonl")}
    for path in [*files.values(), extra]:
        assert path.is_file(), path
        assert path.stat().st_mode & 0o777 == 0o600, path
    data = json.loads(files[".json"].read_text())
    jsonschema.validate(data, report_schema.load())
    assert json.loads(extra.read_text())["findings"] == data["findings"]
    (finding,) = data["findings"]
    assert json.loads(files[".sarif"].read_text())["runs"][0]["results"][0][
        "partialFingerprints"]["nasscanFindingId/v1"] == finding["id"]
    assert files[".csv"].read_text().splitlines()[1].startswith(finding["id"] + ",")
    assert "<!DOCTYPE html>" in files[".html"].read_text()
    assert [json.loads(x)["id"] for x in files[".jsonl"].read_text().splitlines()] == [
        finding["id"]]
    text = files[".txt"].read_text()
    assert "unauthenticated-access" in text and "\x1b[" not in text
    # '-oJ -' puts JSON on stdout instead of the console, as nmap does.
    code, out, err = run(["scan", "127.0.56.1", "-p", str(servers["plugin"]), "--probes",
                          "plugintest", "-oJ", "-"], capsys)
    assert json.loads(out)["findings"][0]["id"] == finding["id"]
    code, out, err = run(["scan", "127.0.56.1", "-oJ", str(extra), "-oS", str(extra)], capsys)
    assert code == 2 and "same place" in err
    # '-o -' is stdout too, never a file named '-'
    code, out, err = run(["scan", "127.0.56.1", "-p", str(servers["plugin"]), "--probes",
                          "plugintest", "--format", "json", "-o", "-"], capsys)
    assert code == 1, err
    assert json.loads(out)["findings"][0]["id"] == finding["id"]
    assert not (Path.cwd() / "-").exists()
    code, out, err = run(["scan", "127.0.56.1", "--format", "json", "-o", "-", "-oJ", "-"],
                         capsys)
    assert code == 2 and "two reports to stdout" in err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["-T0"], (5.0, 3, 1.0, 1)),
        (["-T", "polite"], (2.0, 2, 100.0, 100)),
        (["-T4"], (0.5, 1, None, None)),
        (["-T5", "--retries", "2", "--timeout", "0.7"], (0.7, 2, None, None)),
        ([], (1.0, 1, None, None)),
    ],
)
def test_timing_templates(
    flags: list[str], expected: tuple[float, int, float | None, int | None], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-T0..-T5 set timeout, retries, rate and concurrency; explicit flags win."""
    out = tmp_path / "t.json"
    code, _, err = run(["scan", "127.0.56.9", "-p", "9", "--probes", "none", "--no-history",
                        *flags, "-oJ", str(out)], capsys)
    assert code == 0, err
    scope = json.loads(out.read_text())["scope"]
    timeout, retries, rate, concurrency = expected
    assert scope["connect_timeout"] == timeout and scope["retries"] == retries
    assert scope["rate"] == rate
    if concurrency is not None:
        assert scope["concurrency"] == concurrency


def test_readme_documents_the_timing_templates() -> None:
    from scanner.outputs import TIMING

    readme = (REPO_ROOT / "README.md").read_text()
    for level, t in TIMING.items():
        rate = "unlimited" if t.rate is None else f"{t.rate:g}"
        conc = "from the fd limit" if t.concurrency is None else str(t.concurrency)
        row = f"{t.timeout} | {t.retries} | {rate} | {conc} | {t.per_host} |"
        assert f"| `-T{level}` {t.name}" in readme and row in readme, row
def test_max_depth_and_max_requests_reach_the_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """--max-depth/--max-requests set the listing bounds; <probe>.max_requests overrides them
    for one probe only."""
    from scanner.engine import Engine
    from scanner.probe import ListingBounds, ProbeContext

    seen: list[ListingBounds] = []

    async def fake_run(self: Engine) -> None:
        seen.append(self.options.bounds)
        raise SystemExit(0)

    monkeypatch.setattr(Engine, "run", fake_run)
    with pytest.raises(SystemExit):
        main(["scan", "127.0.56.1", "-q", "--no-history", "--max-depth", "7",
              "--max-requests", "9"])  # fmt: skip
    assert seen and seen[0].depth == 7 and seen[0].requests == 9
    assert main(["scan", "127.0.56.1", "-q", "--no-history", "--max-requests", "0"]) == 2

    ctx = ProbeContext(dialer=None, bounds=ListingBounds(requests=9),  # type: ignore[arg-type]
                       options={"http.max_requests": "3", "ftp.max_depth": "x"})  # fmt: skip
    assert ctx.for_probe("http").bounds.requests == 3
    assert ctx.for_probe("smb") is ctx and ctx.for_probe("ftp") is ctx
