"""HTTP: nginx autoindex on plain 443 (the 1177 server), Apache, lighttpd, Python http.server,
webfs and mini-httpd (families known by structure only), open WebDAV, Basic-auth twin (plain),
HTTPS+auth twin and the "Index of /" trap.

Configs: ``scanner/lab/data/http/`` (nginx skeleton ``nginx.conf`` + ``site-*.conf``,
``apache2.conf``, ``lighttpd.conf``, ``htpasswd``, ``trap.html``).
"""

from __future__ import annotations

import shutil

from scanner.lab.service import Daemon, LabContext, LabService, Ready, ensure_cert

NGINX_SITES = {
    # name: (address, port, site template)
    "http-nginx-443": ("127.0.10.21", 443, "http/site-autoindex.conf"),
    "http-webdav": ("127.0.10.25", 80, "http/site-webdav.conf"),
    "http-auth": ("127.0.10.26", 80, "http/site-auth.conf"),
    "http-https-auth": ("127.0.10.27", 443, "http/site-https-auth.conf"),
    "http-trap": ("127.0.10.28", 80, "http/site-trap.conf"),
}
# Autoindex servers of families no parser knows (recognised by structure, then confirmed):
# webfs (webfsd: ls -l style <pre>, sizes before the names, no parent link in the title) and
# mini-httpd (ACME: "Index of share/", directories listed without a trailing slash).
EXTRA_AUTOINDEX = {
    "http-webfs": ("127.0.10.29", 80),
    "http-mini-httpd": ("127.0.10.30", 8000),
}
APACHE = ("127.0.10.22", 80)
LIGHTTPD = ("127.0.10.23", 80)
PYTHON = ("127.0.10.24", 8080)


class HttpService(LabService):
    name = "http"
    addresses = (
        "127.0.10.21", "127.0.10.22", "127.0.10.23", "127.0.10.24",
        "127.0.10.25", "127.0.10.26", "127.0.10.27", "127.0.10.28",
        *(addr for addr, _ in EXTRA_AUTOINDEX.values()),
    )
    executables = ("nginx", "apache2", "lighttpd", "python3", "openssl", "webfsd", "mini_httpd")
    packages = (
        "nginx", "libnginx-mod-http-dav-ext", "apache2", "lighttpd", "python3", "openssl",
        "webfs", "mini-httpd",
    )

    def prepare(self, ctx: LabContext) -> list[Daemon]:
        crt, key = ensure_cert(ctx)
        htpasswd = ctx.dir("http") / "htpasswd"
        shutil.copyfile(ctx.config_dir / "http" / "htpasswd", htpasswd)
        htpasswd.chmod(0o644)
        daemons: list[Daemon] = []
        for inst, (addr, port, site) in NGINX_SITES.items():
            run = ctx.dir("http", inst)
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                ctx.dir("http", inst, sub)
            shutil.copyfile(ctx.config_dir / "http" / "trap.html", run / "trap.html")
            v = {
                "ADDR": addr, "RUN": str(run), "CERT": str(crt), "KEY": str(key),
                "HTPASSWD": str(htpasswd), "HTTP_DIR": str(run),
            }
            site_conf = ctx.render_with(site, run / "site.conf", v)
            conf = ctx.render_with(
                "http/nginx.conf", run / "nginx.conf", {**v, "SITE": str(site_conf)}
            )
            daemons.append(Daemon(
                name=inst,
                argv=["nginx", "-p", str(run), "-c", str(conf), "-e", "stderr",
                      "-g", "daemon off;"],
                ready=[Ready.tcp(addr, port)],
                watch=[site_conf],
            ))
        # Apache
        run = ctx.dir("http", "http-apache")
        conf = ctx.render("http/apache2.conf", run / "apache2.conf", ADDR=APACHE[0], RUN=str(run))
        daemons.append(Daemon(
            name="http-apache",
            argv=["apache2", "-d", str(run), "-f", str(conf), "-DFOREGROUND"],
            ready=[Ready.tcp(*APACHE)],
        ))
        # lighttpd: its error log must exist and belong to its user
        run = ctx.dir("http", "http-lighttpd")
        conf = ctx.render(
            "http/lighttpd.conf", run / "lighttpd.conf", ADDR=LIGHTTPD[0], RUN=str(run)
        )
        errlog = run / "error.log"
        errlog.touch()
        shutil.chown(errlog, "www-data", "www-data")
        daemons.append(Daemon(
            name="http-lighttpd",
            argv=["lighttpd", "-D", "-f", str(conf)],
            ready=[Ready.tcp(*LIGHTTPD)],
        ))
        # Python's http.server (no config file)
        daemons.append(Daemon(
            name="http-python",
            argv=["python3", "-m", "http.server", str(PYTHON[1]), "--bind", PYTHON[0],
                  "--directory", str(ctx.content)],
            ready=[Ready.tcp(*PYTHON)],
        ))
        daemons += self._extra_autoindex(ctx)
        return daemons

    def _extra_autoindex(self, ctx: LabContext) -> list[Daemon]:
        addr, port = EXTRA_AUTOINDEX["http-webfs"]
        webfs = Daemon(
            name="http-webfs",
            argv=["webfsd", "-F", "-p", str(port), "-i", addr, "-r", str(ctx.content),
                  "-u", "nobody", "-g", "nogroup"],
            ready=[Ready.tcp(addr, port)],
        )
        addr, port = EXTRA_AUTOINDEX["http-mini-httpd"]
        log = ctx.dir("http", "http-mini-httpd") / "access.log"
        mini = Daemon(
            name="http-mini-httpd",
            argv=["mini_httpd", "-D", "-p", str(port), "-h", addr, "-d", str(ctx.content),
                  "-u", "nobody", "-l", str(log)],
            ready=[Ready.tcp(addr, port)],
        )
        return [webfs, mini]


SERVICES: list[LabService] = [HttpService()]
