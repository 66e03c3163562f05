"""Hardening: no secret at rest, owner-only files, personal data masked, --resume keeps output.

Scans target only in-process greeting servers on 127.0.57.x (the test plug-in probe reports
them, quoting their greeting in its evidence): a hostile server whose greeting echoes the
password, an identity number and a phone number is the worst case for every output.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socketserver
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.cli import main
from scanner.redact import forget_secrets

# the test plug-in probe (plugintest) answers the hostile server below
pytestmark = pytest.mark.usefixtures("plugin_probe")

PASSWORD = "Hunter2-s3cr3t-9f1c"
PHONE = "0701234567"
IDNR = "19790312-2393"
HOST = "127.0.57.1"
FORMATS = ["console", "json", "jsonl", "csv", "sarif", "html"]


class _Greeter(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.server.greeting)  # type: ignore[attr-defined]
        if b"HANG" in self.server.greeting:  # type: ignore[attr-defined]
            time.sleep(5)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Scanners reset connections."""


def _serve(host: str, greeting: bytes) -> _Server:
    srv = _Server((host, 0), _Greeter)
    srv.greeting = greeting  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return srv


@pytest.fixture(autouse=True)
def _clean_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("NASSCAN_SMB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NASSCAN_SECRETS", str(tmp_path / "no-secrets.toml"))
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def hostile() -> Iterator[int]:
    greeting = f"220 nasscan-plugin-test ready {PASSWORD} call {PHONE} {IDNR}\r\n".encode()
    srv = _serve(HOST, greeting)
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _scan(port: int, db: Path, *extra: str) -> list[str]:
    return ["scan", HOST, "-p", str(port), "--probes", "plugintest", "--db", str(db), *extra]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_password_never_at_rest_and_files_owner_only(
    hostile: int, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"  # created by nasscan: 0700
    db = data / "history.sqlite3"
    written: list[Path] = []
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        code = main(_scan(hostile, db, "--probe-option", f"smb.password={PASSWORD}",
                          "--probe-option", "smb.user=alice", "--format", fmt, "-o", str(out)))
        assert code == 1, capsys.readouterr().err
        written.append(out)
    # the stored scan, rendered again in every format
    for fmt in FORMATS:
        out = tmp_path / f"show.{fmt}"
        assert main(["show", "last", "--db", str(db), "--format", fmt, "-o", str(out)]) in (0, None)
        written.append(out)
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err

    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "plugintest" in text, f"{path.name}: the finding is not there"
        assert PASSWORD not in text, path.name
        assert PHONE not in text and IDNR not in text, path.name
        assert _mode(path) == 0o600, path.name
    assert PASSWORD not in logs
    for path in data.iterdir():  # the database and any -wal/-shm file
        assert PASSWORD.encode() not in path.read_bytes(), path.name
        assert PHONE.encode() not in path.read_bytes(), path.name
        assert _mode(path) == 0o600, path.name
    assert _mode(data) == 0o700
    with sqlite3.connect(db) as conn:
        options = [json.loads(r[0])["cli"] for r in conn.execute("SELECT options FROM scans")]
    assert all(o["secret_options"] == ["smb.password"] for o in options)
    assert all(o["probe_option"] == ["smb.user=alice"] for o in options)


def test_resume_takes_the_secret_again_and_says_when_missing(
    hostile: int, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "h.sqlite3"
    assert main(_scan(hostile, db, "--probe-option", f"smb.password={PASSWORD}", "-q")) == 1

    def interrupt() -> None:  # as if the scan had been killed
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE scans SET status = 'running', finished_at = NULL")

    interrupt()
    capsys.readouterr()
    assert main(["scan", "--resume", "--db", str(db), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smb.password" in err[0] and "NASSCAN_SMB_PASSWORD" in err[0]

    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(f'"smb.password" = "{PASSWORD}"\n')
    secrets_file.chmod(0o644)
    monkeypatch.setenv("NASSCAN_SECRETS", str(secrets_file))
    assert main(["scan", "--resume", "--db", str(db), "-q"]) == 2
    refused = capsys.readouterr().err
    assert "readable by others" in refused and PASSWORD not in refused

    secrets_file.chmod(0o600)
    assert main(["scan", "--resume", "--db", str(db), "-q"]) == 1
    interrupt()
    monkeypatch.setenv("NASSCAN_SECRETS", str(tmp_path / "none.toml"))
    monkeypatch.setenv("NASSCAN_SMB_PASSWORD", PASSWORD)
    assert main(["scan", "--resume", "--db", str(db), "-q"]) == 1
    interrupt()
    monkeypatch.delenv("NASSCAN_SMB_PASSWORD")
    assert main(["scan", "--resume", "--db", str(db), "-q",
                 "--probe-option", f"smb.password={PASSWORD}"]) == 1
    assert PASSWORD.encode() not in db.read_bytes()


def test_default_history_directory_is_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.history.store import default_db_path, open_store

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "nasscan").mkdir(parents=True, mode=0o755)  # as an older version made it
    store = open_store(None)
    try:
        path = default_db_path()
        assert path.parent == tmp_path / "xdg" / "nasscan"
        assert _mode(path.parent) == 0o700 and _mode(path) == 0o600
        for side in ("-wal", "-shm"):  # WAL mode: SQLite gives them the database's mode
            assert _mode(path.with_name(path.name + side)) == 0o600
    finally:
        store.close()


def test_database_urls_and_webhooks_are_masked(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from scanner.history.alerts import post_alert
    from scanner.history.store import HistoryError, open_store

    # a PostgreSQL URL with a password: the connection fails (nothing listens on port 1)
    with pytest.raises(HistoryError) as info:
        open_store(f"postgresql://alice:{PASSWORD}@127.0.0.1:1/nasscan")
    assert PASSWORD not in str(info.value) and "alice:***@" in str(info.value)
    with pytest.raises(SystemExit) as exited:
        main(["history", "--db", f"mysql://alice:{PASSWORD}@127.0.0.1/x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "mysql://" in err and PASSWORD not in err
    # the webhook URL is itself the credential: logged as scheme and host only
    caplog.set_level(logging.WARNING)
    hook = f"http://127.0.0.1:1/services/T000/B000/{PASSWORD}"
    assert asyncio.run(post_alert(hook, {"text": "x"}, attempts=2, backoff=0.01,
                                  timeout=2)) is False
    assert "127.0.0.1" in caplog.text and PASSWORD not in caplog.text
    assert "/services/" not in caplog.text


def test_alert_payload_masks_phone_and_identity_numbers() -> None:
    from scanner.history.alerts import alert_payload
    from scanner.models import Authentication, Finding, Kind
    from scanner.triage import triage_finding

    name = f"2019/03/{IDNR}_{PHONE}_20190314T101500.wav"
    raw = Finding(host="127.0.10.21", port=443, protocol="http",
                  kind=Kind.UNAUTHENTICATED_ACCESS, authentication=Authentication.NONE,
                  resource="/", title=f"listing with {name}",
                  evidence={"sample": [name], "caller": "+46 70 123 45 67"})
    for finding in (raw, triage_finding(raw)):
        text = json.dumps(alert_payload("nightly", "20260101-000000-abcd", [finding]))
        assert "nightly" in text and "20190314T101500" in text  # the payload is there
        for clear in (PHONE, IDNR, "2393", "1234567", "123 45 67"):
            assert clear not in text, clear
        assert "19790312-XXXX" in text and "070XXXXXXX" in text


@pytest.mark.parametrize(
    ("args", "token"),
    [
        (["--probe-option", "nfs.uid=abc"], "nfs.uid"),
        (["--probe-option", "nfs.nope=1"], "nfs.nope"),
        (["--probe-option", "nope.uid=1"], "nope"),
        (["--probe-option", "tftp.timeout=inf"], "tftp.timeout"),
        (["--probe-option", "nfs.transport=sctp"], "nfs.transport"),
        (["--db", "mysql://x"], "mysql://"),
        (["--rules", "DIR"], "rules"),
        (["--rules", "BINARY"], "rules"),
        (["--baseline", "BINARY"], "not a text file"),
        (["--baseline", "TRUNCATED"], "truncated"),
        (["--baseline", "NESTED"], "baseline"),
        (["-o", "DIR"], "cannot write output file"),
        (["-p", "²"], "²"),  # str.isdigit() is true, int() refuses it
        (["127.0.57.1-²"], "127.0.57.1-²"),
        (["-o", "/nonexistent-dir/out.json"], "cannot write output file"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_scanning(
    args: list[str], token: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"findings": [{"id": "ab')
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000)
    subst = {"DIR": str(tmp_path), "BINARY": str(binary), "TRUNCATED": str(truncated),
             "NESTED": str(nested)}
    args = [subst.get(a, a) for a in args]
    # port 9 on a loopback address nothing listens on: the error must come before any scan
    code = main(["scan", "127.0.57.9", "-p", "9", "--db", str(tmp_path / "h.sqlite3"), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasscan: error:"), err
    assert token in lines[0]
    assert not (tmp_path / "mysql:").exists()
    with sqlite3.connect(tmp_path / "h.sqlite3") as conn:  # nothing was scanned or recorded
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'scans'"
                            ).fetchone()[0] in (0, 1)
        if conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'scans'").fetchone()[0]:
            assert conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0] == 0


def test_probes_options_lists_typed_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probes", "--options"]) in (0, None)
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["nfs.uid"][1:3] == ["int", "65534"]
    assert rows["smb.password"][1] == "str" and rows["smb.password"][3] == "yes"
    assert rows["tftp.timeout"][1] == "float"


# -- --resume keeps what the output had ------------------------------------------------------


def _wait_findings(db: Path, n: int, proc: subprocess.Popen[bytes], limit: float = 60) -> int:
    deadline = time.monotonic() + limit
    found = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    found = conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
            except sqlite3.OperationalError:
                found = 0
            if found >= n:
                return found
        time.sleep(0.05)
    return found


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_killed_scan_resumes_without_losing_output(fmt: str, tmp_path: Path) -> None:
    """Fast servers are found at once; HANG servers keep their probes busy, so the scan is
    still running when it is killed. After the kill the hanging servers turn normal, and the
    resumed scan finishes: every finding written before the kill is still there, once."""
    fast = [_serve("127.0.57.2", b"220 nasscan-plugin-test ready\r\n") for _ in range(6)]
    slow = [_serve("127.0.57.3", b"220 nasscan-plugin-test HANG\r\n") for _ in range(3)]
    db, out = tmp_path / "h.sqlite3", tmp_path / f"out.{fmt}"
    ports = ",".join(str(s.server_address[1]) for s in fast + slow)
    argv = [sys.executable, "-m", "scanner.cli", "scan", "127.0.57.2", "127.0.57.3", "-p", ports,
            "--probes", "plugintest", "--probe-timeout", "60", "-q", "--db", str(db),
            "--format", fmt, "-o", str(out)]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            assert _wait_findings(db, len(fast), proc) >= len(fast)
            time.sleep(0.3)  # the HANG probes are stuck in their sleep
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL, "the scan finished before the kill"
        if fmt == "jsonl":
            before = [json.loads(line)["id"] for line in out.read_text().splitlines()]
            assert len(before) == len(fast)
            with out.open("a") as f:  # a line cut by the kill
                f.write('{"id": "cut-by-the-kil')
        else:
            assert not out.exists()  # never a half-written JSON file
            out.write_text('{"previous": "report"}')
            before = []
        for srv in slow:
            srv.greeting = b"220 nasscan-plugin-test ready\r\n"  # type: ignore[attr-defined]
        r = subprocess.run([sys.executable, "-m", "scanner.cli", "scan", "--resume", "--db",
                            str(db), "-q"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        with sqlite3.connect(db) as conn:
            stored = sorted(row[0] for row in conn.execute("SELECT finding_id FROM findings"))
        assert len(stored) == len(fast) + len(slow)
        if fmt == "jsonl":
            after = [json.loads(line)["id"] for line in out.read_text().splitlines()]
            assert after[: len(before)] == before
            assert sorted(after) == stored  # every finding exactly once, no cut line
        else:
            report = json.loads(out.read_text())
            assert sorted(f["id"] for f in report["findings"]) == stored
        assert _mode(out) == 0o600
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")
                    and p.name.startswith(f".{out.name}") and p.stat().st_size]
    finally:
        for srv in fast + slow:
            srv.shutdown()
            srv.server_close()


# -- the real Samba of the lab: the password is used for a real NTLMv2 login -------------------

LAB_PASSWORD = "Secret123!"  # alice's password in the lab


@pytest.mark.lab
def test_smb_password_used_on_samba_is_never_written(
    lab: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "state" / "history.sqlite3"
    outputs = []
    for fmt in FORMATS:
        out = tmp_path / f"smb.{fmt}"
        code = main(["scan", "127.0.10.1", "127.0.10.3", "-p", "445", "--probes", "smb",
                     "--db", str(db), "--probe-option", "smb.user=alice",
                     "--probe-option", f"smb.password={LAB_PASSWORD}", "--format", fmt,
                     "-o", str(out)])
        assert code == 1, capsys.readouterr().err
        outputs.append(out)
    report = json.loads((tmp_path / "smb.json").read_text())
    sessions = [s["info"].get("smb", {}).get("user_session", "") for s in report["services"]]
    assert any(s.startswith("alice: accepted") for s in sessions), sessions  # really used
    logs = caplog.text + "".join(capsys.readouterr())
    assert LAB_PASSWORD not in logs
    for path in outputs:
        assert LAB_PASSWORD not in path.read_text(), path.name
        assert _mode(path) == 0o600
    for path in db.parent.iterdir():
        assert LAB_PASSWORD.encode() not in path.read_bytes(), path.name
        assert _mode(path) == 0o600
    assert _mode(db.parent) == 0o700


_SILENT_PORTMAPPER = r"""
import asyncio, socket, sys
from probes.nfs import PROBE
from scanner.dialer import Dialer
from scanner.models import ServiceInfo
from scanner.probe import ProbeContext
import ipaddress

async def main():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 111))
    srv.listen(8)  # accepts, never answers
    d = Dialer(ipaddress.ip_network("127.0.0.0/8"), connect_timeout=1.0, read_timeout=1.0)
    r = await PROBE.run(ServiceInfo(host="127.0.0.1", port=111), ProbeContext(dialer=d, timeout=5))
    print(r.status.value, "|", r.detail)

asyncio.run(main())
"""


def test_silent_tcp_portmapper_is_a_timeout_not_refused() -> None:
    """Port 111 in a fresh network namespace (``unshare -n``): TCP accepts and stays silent,
    UDP is refused. The probe must report what TCP said (a timeout), not the UDP refusal."""
    proc = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up && exec \"$0\" -c "
                           "\"$1\"", sys.executable, _SILENT_PORTMAPPER],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    status, _, detail = proc.stdout.strip().partition(" | ")
    assert status == "timeout", proc.stdout
    assert "refused" not in detail


# -- scheduled jobs --------------------------------------------------------------------------


def _schedule(tmp_path: Path, port: int, extra: str, mode: int) -> Path:
    path = tmp_path / "schedule.toml"
    path.write_text(f"""
[jobs.nightly]
targets = ["{HOST}"]
ports = "{port}"
probes = "plugintest"
cron = "0 3 * * *"
{extra}

[[jobs.nightly.alerts]]
webhook = "http://127.0.0.1:1/services/T000/B000/{PASSWORD}"
threshold = "info"
attempts = 1
timeout = 2
""")
    path.chmod(mode)
    return path


def test_scheduled_job_never_records_secrets_or_webhooks(
    hostile: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from scanner.credentials import CredentialError
    from scanner.history.jobs import scan_job
    from scanner.history.schedule import ScheduleConfigError, load_schedule, run_job
    from scanner.history.store import open_store

    inline = f'probe_options = {{ "smb.user" = "alice", "smb.password" = "{PASSWORD}" }}'
    with pytest.raises(ScheduleConfigError, match="readable by others"):
        load_schedule(_schedule(tmp_path, hostile, inline, 0o644))
    with pytest.raises(ScheduleConfigError, match=r"nfs\.uid"):
        load_schedule(_schedule(tmp_path, hostile, 'probe_options = { "nfs.uid" = "x" }', 0o600))

    # the secret named by the job, from the environment only
    job = load_schedule(_schedule(tmp_path, hostile, 'secrets = ["smb.password"]', 0o644)
                        ).jobs["nightly"]
    store = open_store(str(tmp_path / "h.sqlite3"))
    try:
        with pytest.raises(CredentialError, match="NASSCAN_SMB_PASSWORD"):
            asyncio.run(run_job(job, store, scan_job))
        monkeypatch.setenv("NASSCAN_SMB_PASSWORD", PASSWORD)
        caplog.set_level(logging.WARNING)
        outcome = asyncio.run(run_job(job, store, scan_job))
        assert outcome.new and outcome.alerted == [False]  # nothing listens on port 1
        recorded = store.get_scan(outcome.scan_id).options
    finally:
        store.close()
    assert recorded["secret_options"] == ["smb.password"]
    assert recorded["alerts"][0]["webhook"] == "http://127.0.0.1/***"
    assert PASSWORD not in caplog.text and "/services/" not in caplog.text
    for path in tmp_path.glob("h.sqlite3*"):
        assert PASSWORD.encode() not in path.read_bytes()
        assert b"/services/T000" not in path.read_bytes()


def test_special_and_symlinked_outputs_are_written_in_place(
    hostile: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO (like /dev/stdout) is written, never renamed over or chmod-ed; a symlink keeps
    pointing at its file, which gets the report."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(_scan(hostile, tmp_path / "h.sqlite3", "--format", "csv", "-o", str(fifo))) == 1
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _mode(fifo) == 0o644
    assert b"plugintest" in got[0]
    target = tmp_path / "reports" / "last.json"
    target.parent.mkdir()
    target.write_text("{}")
    link = tmp_path / "last.json"
    link.symlink_to(target)
    assert main(_scan(hostile, tmp_path / "h.sqlite3", "--format", "json", "-o", str(link))) == 1
    assert link.is_symlink() and "plugintest" in target.read_text()
    assert _mode(target) == 0o600
    capsys.readouterr()
