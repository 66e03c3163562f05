"""FTP (vsftpd): anonymous plaintext (ports 21 and 2121), local users plaintext, FTPS-required twin.

Configs: ``scanner/lab/data/ftp/common.conf`` + one instance file each;
PAM: ``scanner/lab/data/ftp/pam.vsftpd``.
"""

from __future__ import annotations

from pathlib import Path

from scanner.lab.service import (
    Daemon,
    LabContext,
    LabService,
    Ready,
    ensure_cert,
    ensure_user,
    install_file,
    render_text,
)

PAM_FILE = Path("/etc/pam.d/nasscan-lab-vsftpd")

INSTANCES = {
    # name: (address, port, template, passive port range)
    "ftp-anon": ("127.0.10.11", 21, "ftp/ftp-anon.conf", (30000, 30009)),
    "ftp-anon-2121": ("127.0.10.11", 2121, "ftp/ftp-anon.conf", (30010, 30019)),
    "ftp-local": ("127.0.10.12", 21, "ftp/ftp-local.conf", (30020, 30029)),
    "ftps": ("127.0.10.13", 21, "ftp/ftps.conf", (30030, 30039)),
}


class FtpService(LabService):
    name = "ftp"
    addresses = ("127.0.10.11", "127.0.10.12", "127.0.10.13")
    executables = ("vsftpd", "openssl")
    packages = ("vsftpd", "openssl")

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        ensure_user()
        install_file(ctx.config_dir / "ftp" / "pam.vsftpd", PAM_FILE)
        crt, key = ensure_cert(ctx)
        daemons = []
        for inst, (addr, port, template, (lo, hi)) in INSTANCES.items():
            run = ctx.dir("ftp", inst)
            empty = ctx.dir("ftp", inst, "empty")
            empty.chmod(0o555)
            variables = ctx.variables({
                "ADDR": addr, "PORT": str(port), "PASV_ADDR": addr, "PASV_MIN": str(lo),
                "PASV_MAX": str(hi), "RUN": str(run), "CERT": str(crt), "KEY": str(key),
            })
            text = "".join(
                render_text((ctx.config_dir / t).read_text(), variables)
                for t in ("ftp/common.conf", template)
            )
            conf = run / "vsftpd.conf"
            conf.write_text(text)
            conf.chmod(0o600)  # vsftpd insists the config is owned by root and not writable
            daemons.append(
                Daemon(name=inst, argv=["vsftpd", str(conf)], ready=[Ready.tcp(addr, port)])
            )
        return daemons


SERVICES: list[LabService] = [FtpService()]
