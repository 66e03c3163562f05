"""``nasscan lab``: up [--only svc,...] | down | status | exec -- CMD."""

from __future__ import annotations

import os
import sys

import click

from scanner.lab import supervisor
from scanner.lab.netns import LabError, ns_name
from scanner.lab.services import all_services


def _fail(e: LabError) -> None:
    click.echo(f"nasscan lab: {e}", err=True)
    sys.exit(2)


@click.group()
@click.option(
    "--ns",
    "ns",
    default=None,
    help="Network namespace name (default $NASSCAN_LAB_NS or nasscan-lab).",
)
@click.pass_context
def lab(ctx: click.Context, ns: str | None) -> None:
    """Real misconfigured storage servers (and secured twins) in a loopback-only namespace."""
    ctx.obj = {"ns": ns}


@lab.command()
@click.option("--only", default=None, help="Comma-separated services (e.g. smb,ftp,http).")
@click.pass_context
def up(ctx: click.Context, only: str | None) -> None:
    """Start the lab (idempotent; recovers after a crash)."""
    names = [x.strip() for x in only.split(",") if x.strip()] if only else None
    try:
        supervisor.up(ctx.obj["ns"], names, echo=click.echo)
    except LabError as e:
        _fail(e)


@lab.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop exactly what the lab started; remove its addresses and namespace."""
    try:
        remaining = supervisor.down(ctx.obj["ns"], echo=click.echo)
    except LabError as e:
        _fail(e)
        return
    if remaining:
        sys.exit(1)


@lab.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """List the lab's daemons and whether each is up."""
    try:
        rows = supervisor.status(ctx.obj["ns"])
    except LabError as e:
        _fail(e)
        return
    if not rows:
        click.echo(f"lab {ns_name(ctx.obj['ns'])}: not running")
        sys.exit(3)
    for r in rows:
        state = "up" if r.running and r.ready else ("starting/broken" if r.running else "down")
        click.echo(f"{r.service:<8} {r.name:<18} {state:<16} pid={r.pid} {' '.join(r.checks)}")
    started = {r.service for r in rows}
    for svc in all_services():
        if svc.name not in started:
            click.echo(f"{svc.name:<8} {'-':<18} not started")
    if not all(r.running and r.ready for r in rows):
        sys.exit(1)


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("cmd", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx: click.Context, cmd: tuple[str, ...]) -> None:
    """Run CMD inside the lab namespace (same env and cwd; its exit code is returned)."""
    try:
        argv, env = supervisor.exec_argv(ctx.obj["ns"], list(cmd))
    except LabError as e:
        _fail(e)
        return
    os.execvpe(argv[0], argv, env)


def main() -> None:  # pragma: no cover - `python -m scanner.lab.cli`
    lab()


if __name__ == "__main__":  # pragma: no cover
    main()
