"""scanner.credentials: where secret options come from, in which order, and what is refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from probes.smb import PROBE as SMB
from scanner.credentials import (
    CredentialError,
    check_owner_only,
    env_name,
    load_secrets_file,
    lookup,
    missing_message,
    resolve_probe_options,
    secrets_path,
)
from scanner.redact import forget_secrets, redact_text


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("NASSCAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("NASSCAN_SECRETS", str(tmp_path / "secrets.toml"))
    forget_secrets()
    yield
    forget_secrets()


def _secrets(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("key", "name"),
    [("smb.password", "NASSCAN_SMB_PASSWORD"), ("s3.secret-key", "NASSCAN_S3_SECRET_KEY"),
     ("a.b.c", "NASSCAN_A_B_C"), ("x", "NASSCAN_X"), ("ftp.pass2", "NASSCAN_FTP_PASS2")],
)
def test_env_name_rows(key: str, name: str) -> None:
    assert env_name(key) == name


def test_secrets_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert secrets_path() == tmp_path / "secrets.toml"
    monkeypatch.setenv("NASSCAN_SECRETS", "")
    assert secrets_path() == Path(platformdirs.user_config_dir("nasscan")) / "secrets.toml"
    monkeypatch.delenv("NASSCAN_SECRETS")
    assert secrets_path().name == "secrets.toml" and secrets_path().parent.name == "nasscan"


@pytest.mark.parametrize(("mode", "ok"), [(0o600, True), (0o400, True), (0o700, True),
                                          (0o640, False), (0o604, False), (0o610, False),
                                          (0o601, False), (0o602, False), (0o620, False)])
def test_owner_only_modes(tmp_path: Path, mode: int, ok: bool) -> None:
    path = _secrets(tmp_path, "", mode)
    if ok:
        check_owner_only(path)
    else:
        with pytest.raises(CredentialError) as err:
            check_owner_only(path)
        assert str(err.value) == (
            f"{path} holds secrets but is readable by others (mode {mode:04o}); chmod 600 {path}")


def test_owner_only_on_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        check_owner_only(tmp_path / "nope")
    assert str(err.value) == f"cannot read {tmp_path / 'nope'}: No such file or directory"


def test_load_secrets_file(tmp_path: Path) -> None:
    assert load_secrets_file() == {}  # does not exist: nothing
    path = _secrets(tmp_path, '"smb.password" = "pw1"\n[s3]\nsecret = "k"\nport = 9\n'
                               '[a.b]\nc = true\n')  # fmt: skip
    want = {"smb.password": "pw1", "s3.secret": "k", "s3.port": "9", "a.b.c": "True"}
    assert load_secrets_file() == want
    assert load_secrets_file(path) == want
    _secrets(tmp_path, "not = = toml")
    with pytest.raises(CredentialError) as err:
        load_secrets_file()
    assert str(err.value) == f"{path}: not valid TOML"
    path.write_bytes(b'"smb.password" = "\xff"')
    with pytest.raises(CredentialError, match="not valid TOML"):
        load_secrets_file()
    _secrets(tmp_path, '"smb.password" = "x"', 0o644)
    with pytest.raises(CredentialError, match="readable by others"):
        load_secrets_file()


def test_unreadable_secrets_file(tmp_path: Path) -> None:
    d = tmp_path / "secrets.toml"
    d.mkdir(mode=0o700)  # exists, owner-only, but reading it fails
    with pytest.raises(CredentialError) as err:
        load_secrets_file(d)
    assert str(err.value) == f"cannot read {d}: Is a directory"


def test_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = _secrets(tmp_path, '"smb.password" = "from-file"\n')
    assert lookup("smb.password") == ("from-file", str(path))
    assert lookup("smb.password", {}) is None  # the values given are the file's
    assert lookup("smb.password", {"smb.password": "v"}) == ("v", str(path))
    monkeypatch.setenv("NASSCAN_SMB_PASSWORD", "")
    assert lookup("smb.password") == ("from-file", str(path))  # empty: not given
    monkeypatch.setenv("NASSCAN_SMB_PASSWORD", "from-env")
    assert lookup("smb.password") == ("from-env", "NASSCAN_SMB_PASSWORD")
    assert lookup("smb.user") is None


def test_missing_message(tmp_path: Path) -> None:
    assert missing_message("smb.password", "the scan being resumed") == (
        "the scan being resumed used smb.password, which nasscan never stores: give it again"
        f" with --probe-option smb.password=..., NASSCAN_SMB_PASSWORD or"
        f" {tmp_path / 'secrets.toml'} (mode 0600)")


def test_resolve_from_each_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    probes = {"smb": SMB}
    options, secrets = resolve_probe_options({"smb.user": "u"}, probes)
    assert options == {"smb.user": "u"} and secrets == []
    _secrets(tmp_path, '"smb.password" = "file-pw"\n')
    options, secrets = resolve_probe_options({"smb.user": "u"}, probes)
    assert options == {"smb.user": "u", "smb.password": "file-pw"}
    assert secrets == ["smb.password"]
    assert redact_text("x file-pw y") == "x *** y"  # registered for redaction
    monkeypatch.setenv("NASSCAN_SMB_PASSWORD", "env-pw")
    options, _ = resolve_probe_options({}, probes)
    assert options == {"smb.password": "env-pw"}
    options, _ = resolve_probe_options({"smb.password": "cli-pw"}, probes)
    assert options == {"smb.password": "cli-pw"}  # the command line wins


def test_resolve_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    probes = {"smb": SMB}
    with pytest.raises(CredentialError) as err:
        resolve_probe_options({}, probes, required=["smb.password"], what="job nightly")
    assert str(err.value) == missing_message("smb.password", "job nightly")
    assert str(err.value).startswith("job nightly used smb.password")
    with pytest.raises(CredentialError, match=r"^this scan used smb\.password"):
        resolve_probe_options({}, probes, required=["smb.password"])
    options, secrets = resolve_probe_options({"smb.password": "p"}, probes,
                                             required=["smb.password"])  # fmt: skip
    assert options == {"smb.password": "p"} and secrets == ["smb.password"]
    # a secret not required and found nowhere is simply absent
    options, secrets = resolve_probe_options({}, probes)
    assert options == {} and secrets == []


def test_resolve_goes_on_after_a_given_key(tmp_path: Path) -> None:
    # "smb.domain" (given) sorts before "smb.password" (looked up): both end up in the options
    _secrets(tmp_path, '"smb.password" = "pw"\n')
    options, secrets = resolve_probe_options({"smb.domain": "D"}, {"smb": SMB},
                                             required=["smb.domain"])  # fmt: skip
    assert options == {"smb.domain": "D", "smb.password": "pw"} and secrets == ["smb.password"]


def test_resolve_reads_the_secrets_file_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import scanner.credentials as cred

    calls: list[Path | None] = []
    real = cred.load_secrets_file

    def counting(path: Path | None = None) -> dict[str, str]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(cred, "load_secrets_file", counting)
    _secrets(tmp_path, '"smb.password" = "pw"\n"smb.domain" = "D"\n')
    options, _ = cred.resolve_probe_options({}, {"smb": SMB}, required=["smb.domain"])
    assert options == {"smb.domain": "D", "smb.password": "pw"}
    assert calls == [None]  # two keys looked up, one read
