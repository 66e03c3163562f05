"""``python -m scanner.cli`` behaves as the ``nasscan`` script: an input error raised by a
sub-command module (the fleet commands, which take ``InputError`` from ``scanner.cli_common``)
is a one-line error, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv", [[sys.executable, "-m", "scanner.cli"],
                                  [os.path.join(os.path.dirname(sys.executable), "nasscan")]])
def test_fleet_input_error_is_one_line_and_exit_2(argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NASSCAN_BROKER"}
    done = subprocess.run([*argv, "fleet", "submit", "127.0.0.1"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "nasscan: error: fleet submit needs --broker URL (or NASSCAN_BROKER)")
    assert "Traceback" not in done.stderr
