"""Where secret probe options come from, since nasscan never stores them.

A secret option (``smb.password``, anything a probe declares ``secret`` or whose name holds
password/secret/token/key) is taken, first found wins, from:

1. the command line: ``--probe-option smb.password=...``;
2. the environment: ``NASSCAN_SMB_PASSWORD`` (``NASSCAN_<PROBE>_<NAME>``, upper case);
3. the secrets file: ``$NASSCAN_SECRETS`` or ``~/.config/nasscan/secrets.toml`` (the user config
   directory), a TOML table of ``"smb.password" = "..."``, which must be readable by its owner
   only (mode 0600): a file that others can read is refused.

The history records only the *names* of the secret options a scan used, so ``--resume`` and
scheduled jobs look them up again here and say which one is missing.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

if TYPE_CHECKING:
    from scanner.probe import Probe


class CredentialError(ValueError):
    """A secrets file that cannot be used, or a secret option that is missing."""


def env_name(key: str) -> str:
    """``smb.password`` -> ``NASSCAN_SMB_PASSWORD``."""
    return "NASSCAN_" + "".join(ch if ch.isalnum() else "_" for ch in key).upper()


def secrets_path() -> Path:
    configured = os.environ.get("NASSCAN_SECRETS")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_config_dir("nasscan")) / "secrets.toml"


def check_owner_only(path: Path) -> None:
    """Refuse a file holding secrets that its group or others may read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(
            f"{path} holds secrets but is readable by others (mode {stat.S_IMODE(mode):04o});"
            f" chmod 600 {path}"
        )


def load_secrets_file(path: Path | None = None) -> dict[str, str]:
    """The secrets file as ``{"smb.password": "..."}``; empty when it does not exist."""
    path = path or secrets_path()
    if not path.exists():
        return {}
    check_owner_only(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise CredentialError(f"{path}: not valid TOML") from None
    return _flatten(raw)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = str(value)
    return out


def lookup(key: str, file_values: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(value, where it came from) for a secret option from the environment or the file."""
    name = env_name(key)
    if os.environ.get(name):
        return os.environ[name], name
    values = load_secrets_file() if file_values is None else file_values
    if key in values:
        return values[key], str(secrets_path())
    return None


def missing_message(key: str, what: str) -> str:
    return (
        f"{what} used {key}, which nasscan never stores: give it again with "
        f"--probe-option {key}=..., {env_name(key)} or {secrets_path()} (mode 0600)"
    )


def resolve_probe_options(
    raw: Mapping[str, Any],
    probes: Mapping[str, Probe],
    required: Sequence[str] = (),
    what: str = "this scan",
) -> tuple[dict[str, Any], list[str]]:
    """Typed probe options from ``raw`` (validated against the probes' declarations), with each
    declared secret not given looked up in the environment and the secrets file; and the keys
    of the secrets among them (register them for redaction, never record their values).

    ``required``: secret keys that must be found (an interrupted scan used them): a missing one
    raises ``CredentialError`` naming where to give it. Bad keys/values raise ``ProbeOptionError``.
    """
    from scanner.probe import declared_options, is_secret_key, parse_probe_options
    from scanner.redact import register_secret

    options = parse_probe_options(raw, probes)
    declared_secrets = {k for p in probes.values() for k, o in declared_options(p).items()
                        if o.secret}
    file_values: dict[str, str] | None = None
    for key in sorted(declared_secrets | set(required)):
        if key in options:
            continue
        if file_values is None:
            file_values = load_secrets_file()
        found = lookup(key, file_values)
        if found is not None:
            options.update(parse_probe_options({key: found[0]}, probes))
        elif key in required:
            raise CredentialError(missing_message(key, what))
    secrets = sorted(k for k in options if is_secret_key(k))
    for key in secrets:
        register_secret(str(options[key]))
    return options, secrets
