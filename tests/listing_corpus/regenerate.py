"""Regenerate the captured directory listings of ``tests/listing_corpus/`` (``cap_*``).

    sudo python3 tests/listing_corpus/regenerate.py [ID ...]      # all servers, or only these ids
    python3 tests/listing_corpus/regenerate.py --list             # ids and what each one needs

Each server below is a real program from a Debian, PyPI or npm package, started on
127.0.0.1 inside a private network namespace (``unshare --net``: loopback only, nothing can
leave the machine), serving the same small tree::

    /share/2019/03/rec.wav              /share/my dir/note.txt
    /share/readme.txt (3 B)             /share/logo & icon.png (20000 B)
    /share/recording_0701234567.wav (1234567 B)     /share/résumé.pdf (100 B)
    /share/a very long file name ... for nginx.txt (55000 B)

every file and directory dated 2019-03-14 10:15:00 UTC. The page of ``/share/`` is saved as
``cap_<id>.<ext>`` and the expected parse as ``cap_<id>.<ext>.expected.json``: the tree's
true names, directory flags and sizes, with what this server shows (``sizes``: ``exact``,
``approx`` for human sizes like ``19.5K``, ``none``; ``dates``: whether dates are shown) and
the family the parser must answer (a family fast path, or ``generic`` for the structural
detector). A server whose program is missing is skipped with a note (the corpus files stay).

What the servers need (capture only; the tests read the saved files):
Debian ``nginx libnginx-mod-http-fancyindex apache2 lighttpd webfs mini-httpd micro-httpd
caddy golang-go rclone python3-twisted ruby-webrick libplack-perl tomcat10``; npm (in
``$LISTING_NPM``, default ``/tmp/listing-npm``: ``npm install http-server serve serve-index
express st``); PyPI (in ``$LISTING_VENV``, default ``/tmp/listing-capvenv``: ``pip install
wsgidav cheroot aiohttp updog``).
"""

from __future__ import annotations

import argparse
import calendar
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent
NPM = Path(os.environ.get("LISTING_NPM", "/tmp/listing-npm"))
VENV = Path(os.environ.get("LISTING_VENV", "/tmp/listing-capvenv"))
SYSPY = "/usr/bin/python3"
MTIME = calendar.timegm((2019, 3, 14, 10, 15, 0, 0, 0, 0))
LONG = "a very long file name that goes beyond fifty characters for nginx.txt"
TREE_FILES = {
    "share/readme.txt": 3,
    "share/logo & icon.png": 20000,
    "share/recording_0701234567.wav": 1234567,
    "share/résumé.pdf": 100,
    f"share/{LONG}": 55000,
    "share/2019/03/rec.wav": 4000,
    "share/my dir/note.txt": 12,
}
SHARE_ENTRIES = [  # (name, is_dir, size) of /share/
    ("2019", True, None),
    ("my dir", True, None),
    ("readme.txt", False, 3),
    ("logo & icon.png", False, 20000),
    ("recording_0701234567.wav", False, 1234567),
    ("résumé.pdf", False, 100),
    (LONG, False, 55000),
]


@dataclass
class Ctx:
    root: Path  # the served directory (holds share/)
    run: Path  # scratch space for this server
    port: int


@dataclass
class Server:
    id: str
    argv: Callable[[Ctx], list[str]]
    family: str
    sizes: str  # exact | approx | none
    dates: bool
    dirs: bool = True  # the page tells directories from files
    ready_timeout: float = 20.0
    ext: str = "html"
    accept: str = "text/html"
    path: str = "/share/"
    needs: str = ""
    cwd_root: bool = False
    note: str = ""
    setup: Callable[[Ctx], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _write(ctx: Ctx, name: str, text: str) -> Path:
    p = ctx.run / name
    p.write_text(text)
    return p


NGINX_CONF = """
{modules}
user nobody nogroup;
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {run}/cb; proxy_temp_path {run}/px; fastcgi_temp_path {run}/fc;
    uwsgi_temp_path {run}/uw; scgi_temp_path {run}/sc;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ {directives} }}
    }}
}}
"""


def _nginx(directives: str, modules: str = "") -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        conf = NGINX_CONF.format(
            modules=modules, run=ctx.run, port=ctx.port, root=ctx.root, directives=directives
        )
        return [
            "nginx",
            "-p",
            str(ctx.run),
            "-c",
            str(_write(ctx, "nginx.conf", conf)),
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ]

    return argv


APACHE_CONF = """
ServerRoot "{run}"
ServerName capture
Listen 127.0.0.1:{port}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule autoindex_module /usr/lib/apache2/modules/mod_autoindex.so
User www-data
Group www-data
PidFile {run}/apache2.pid
DefaultRuntimeDir {run}
Mutex file:{run} default
ErrorLog /dev/stderr
TypesConfig /etc/mime.types
DocumentRoot "{root}"
<Directory "{root}">
    Options +Indexes
    IndexOptions {options}
    Require all granted
</Directory>
"""


def _apache(options: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        conf = APACHE_CONF.format(run=ctx.run, port=ctx.port, root=ctx.root, options=options)
        return [
            "apache2",
            "-d",
            str(ctx.run),
            "-f",
            str(_write(ctx, "apache2.conf", conf)),
            "-DFOREGROUND",
        ]

    return argv


def _lighttpd(ctx: Ctx) -> list[str]:
    conf = f"""
server.modules = ( "mod_dirlisting" )
server.document-root = "{ctx.root}"
server.bind = "127.0.0.1"
server.port = {ctx.port}
server.username = "www-data"
server.groupname = "www-data"
dir-listing.activate = "enable"
mimetype.assign = ( ".txt" => "text/plain", "" => "application/octet-stream" )
"""
    return ["lighttpd", "-D", "-f", str(_write(ctx, "lighttpd.conf", conf))]


GO_SERVER = """package main

import (
	"net/http"
	"os"
)

func main() {
	http.ListenAndServe("127.0.0.1:"+os.Args[2], http.FileServer(http.Dir(os.Args[1])))
}
"""


def _go(ctx: Ctx) -> list[str]:
    src = _write(ctx, "main.go", GO_SERVER)
    binary = ctx.run / "fileserver"
    env = {
        **os.environ,
        "GOCACHE": str(ctx.run / "gocache"),
        "GO111MODULE": "off",
        "GOPATH": str(ctx.run / "gopath"),
    }
    subprocess.run(["go", "build", "-o", str(binary), str(src)], check=True, env=env)
    return [str(binary), str(ctx.root), str(ctx.port)]


SERVE_INDEX_JS = """
const express = require('NODE_MODULES/express');
const serveIndex = require('NODE_MODULES/serve-index');
const app = express();
app.use('/', express.static(process.argv[2]), serveIndex(process.argv[2], {view: process.argv[4]}));
app.listen(Number(process.argv[3]), '127.0.0.1');
"""

AIOHTTP_PY = """
import sys
from aiohttp import web
app = web.Application()
app.router.add_static("/", sys.argv[1], show_index=True)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None)
"""

MICRO_WRAPPER = """
import socket, subprocess, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.listen(8)
while True:
    c, _ = s.accept()
    subprocess.run(["micro-httpd", sys.argv[1]], stdin=c, stdout=c, timeout=10)
    c.close()
"""

PLACK_PSGI = "use Plack::App::Directory; Plack::App::Directory->new(root => $ENV{ROOT})->to_app;"


def _node(bin_name: str, *args: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        return [
            str(NPM / "node_modules" / ".bin" / bin_name),
            *(a.format(root=ctx.root, port=ctx.port) for a in args),
        ]

    return argv


def _serve_index(view: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        js = _write(
            ctx, "app.js", SERVE_INDEX_JS.replace("NODE_MODULES", str(NPM / "node_modules"))
        )
        return ["node", str(js), str(ctx.root), str(ctx.port), view]

    return argv


def _cmd(*args: str) -> Callable[[Ctx], list[str]]:
    def argv(ctx: Ctx) -> list[str]:
        return [a.format(root=ctx.root, port=ctx.port, run=ctx.run, venv=VENV) for a in args]

    return argv


def _aiohttp(ctx: Ctx) -> list[str]:
    return [
        str(VENV / "bin" / "python"),
        str(_write(ctx, "app.py", AIOHTTP_PY)),
        str(ctx.root),
        str(ctx.port),
    ]


def _plack(ctx: Ctx) -> list[str]:
    psgi = _write(ctx, "app.psgi", PLACK_PSGI)
    return [
        "plackup",
        "-s",
        "HTTP::Server::PSGI",
        "--host",
        "127.0.0.1",
        "--port",
        str(ctx.port),
        str(psgi),
    ]


def _webrick(ctx: Ctx) -> list[str]:
    return [
        "ruby",
        "-rwebrick",
        "-e",
        "WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: ARGV[1].to_i, "
        "DocumentRoot: ARGV[0], AccessLog: [], "
        "DocumentRootOptions: {FancyIndexing: true}).tap { |s| trap('TERM') { s.shutdown } }"
        ".start",
        str(ctx.root),
        str(ctx.port),
    ]


TOMCAT_SERVER_XML = """<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="{run}/webapps" unpackWARs="false" autoDeploy="false">
        <Context path="" docBase="{root}"/>
      </Host>
    </Engine>
  </Service>
</Server>
"""


def _tomcat(ctx: Ctx) -> list[str]:
    """Tomcat 10's DefaultServlet with ``listings`` on (Debian's web.xml, one value changed)."""
    conf = ctx.run / "conf"
    for sub in ("conf", "logs", "work", "temp", "webapps"):
        (ctx.run / sub).mkdir(exist_ok=True)
    web = Path("/etc/tomcat10/web.xml").read_text()
    web = web.replace(
        "<param-name>listings</param-name>\n            <param-value>false</param-value>",
        "<param-name>listings</param-name>\n            <param-value>true</param-value>",
    )
    (conf / "web.xml").write_text(web)
    (conf / "server.xml").write_text(
        TOMCAT_SERVER_XML.format(port=ctx.port, run=ctx.run, root=ctx.root)
    )
    shutil.copy("/etc/tomcat10/logging.properties", conf / "logging.properties")
    return [
        "env",
        f"CATALINA_BASE={ctx.run}",
        "CATALINA_HOME=/usr/share/tomcat10",
        "/usr/share/tomcat10/bin/catalina.sh",
        "run",
    ]


def _rclone(ctx: Ctx) -> list[str]:
    return [
        "rclone",
        "--config",
        str(_write(ctx, "rclone.conf", "")),
        "serve",
        "http",
        str(ctx.root),
        "--addr",
        f"127.0.0.1:{ctx.port}",
    ]


SERVERS: list[Server] = [
    Server("nginx", _nginx("autoindex on;"), "nginx", "exact", True, needs="nginx"),
    Server(
        "nginx_human",
        _nginx("autoindex on; autoindex_exact_size off;"),
        "nginx",
        "approx",
        True,
        needs="nginx",
    ),
    Server(
        "nginx_json",
        _nginx("autoindex on; autoindex_format json;"),
        "nginx-json",
        "exact",
        True,
        ext="json",
        needs="nginx",
    ),
    Server(
        "nginx_xml",
        _nginx("autoindex on; autoindex_format xml;"),
        "nginx-xml",
        "exact",
        True,
        ext="xml",
        needs="nginx",
    ),
    Server(
        "nginx_fancyindex",
        _nginx(
            "fancyindex on; fancyindex_exact_size on;",
            "load_module /usr/lib/nginx/modules/ngx_http_fancyindex_module.so;",
        ),
        "generic",
        "exact",
        True,
        needs="nginx libnginx-mod-http-fancyindex",
    ),
    Server(
        "apache_table",
        _apache("FancyIndexing HTMLTable"),
        "apache-fancy-table",
        "approx",
        True,
        needs="apache2",
    ),
    Server(
        "apache_fancy",
        _apache("FancyIndexing"),
        "apache-fancy-pre",
        "approx",
        True,
        needs="apache2",
    ),
    Server("apache_plain", _apache("-FancyIndexing"), "apache-ul", "none", False, needs="apache2"),
    Server("lighttpd", _lighttpd, "lighttpd", "approx", True, needs="lighttpd"),
    Server(
        "python_http_server",
        _cmd(SYSPY, "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "{root}"),
        "python",
        "none",
        False,
        needs="python3",
    ),
    Server(
        "twisted",
        _cmd(
            SYSPY,
            "-m",
            "twisted",
            "web",
            "--listen",
            "tcp:{port}:interface=127.0.0.1",
            "--path",
            "{root}",
        ),
        "python",
        "approx",
        False,
        needs="python3-twisted",
    ),
    Server(
        "http_server_npm",
        _node("http-server", "{root}", "-a", "127.0.0.1", "-p", "{port}", "-s"),
        "generic",
        "approx",
        True,
        needs="npm http-server",
    ),
    Server(
        "serve_npm",
        _node("serve", "-n", "-L", "-l", "tcp://127.0.0.1:{port}", "{root}"),
        "generic",
        "none",
        False,
        needs="npm serve",
    ),
    Server(
        "serve_npm_json",
        _node("serve", "-n", "-L", "-l", "tcp://127.0.0.1:{port}", "{root}"),
        "generic-json",
        "approx",
        False,
        ext="json",
        accept="application/json",
        needs="npm serve",
    ),
    Server(
        "serve_index_details",
        _serve_index("details"),
        "generic",
        "approx",
        True,
        needs="npm serve-index express",
    ),
    Server(
        "serve_index_tiles",
        _serve_index("tiles"),
        "generic",
        "exact",
        True,
        needs="npm serve-index express",
    ),
    Server(
        "st_npm",
        _node("st", "-nc", "-H", "127.0.0.1", "-p", "{port}", "-d", "{root}", "-i"),
        "nginx",
        "exact",
        True,
        needs="npm st",
    ),
    Server(
        "webfs",
        _cmd(
            "webfsd",
            "-F",
            "-p",
            "{port}",
            "-i",
            "127.0.0.1",
            "-r",
            "{root}",
            "-u",
            "nobody",
            "-g",
            "nogroup",
        ),
        "generic",
        "approx",
        True,
        needs="webfs",
    ),
    Server(
        "mini_httpd",
        _cmd(
            "mini_httpd",
            "-D",
            "-p",
            "{port}",
            "-h",
            "127.0.0.1",
            "-d",
            "{root}",
            "-u",
            "nobody",
            "-l",
            "/dev/null",
        ),
        "generic",
        "exact",
        True,
        dirs=False,
        needs="mini-httpd",
    ),
    Server(
        "micro_httpd",
        _cmd(SYSPY, "-c", MICRO_WRAPPER, "{root}", "{port}"),
        "generic",
        "exact",
        True,
        dirs=False,
        needs="micro-httpd (inetd-style: through an accept loop)",
    ),
    Server(
        "caddy",
        _cmd(
            "caddy", "file-server", "--listen", "127.0.0.1:{port}", "--root", "{root}", "--browse"
        ),
        "generic",
        "approx",
        True,
        needs="caddy",
        env={"HOME": "/tmp", "XDG_DATA_HOME": "/tmp/caddy-capture"},
    ),
    Server(
        "caddy_json",
        _cmd(
            "caddy", "file-server", "--listen", "127.0.0.1:{port}", "--root", "{root}", "--browse"
        ),
        "caddy-json",
        "exact",
        True,
        ext="json",
        accept="application/json",
        needs="caddy",
        env={"HOME": "/tmp", "XDG_DATA_HOME": "/tmp/caddy-capture"},
    ),
    Server("go_fileserver", _go, "generic", "none", False, needs="golang-go"),
    Server("rclone", _rclone, "generic", "exact", True, needs="rclone"),
    Server(
        "wsgidav",
        _cmd(
            "{venv}/bin/wsgidav",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--root",
            "{root}",
            "--auth",
            "anonymous",
            "--no-config",
        ),
        "generic",
        "exact",
        True,
        needs="PyPI wsgidav cheroot",
    ),
    Server("aiohttp", _aiohttp, "apache-ul", "none", False, needs="PyPI aiohttp"),
    Server("plack", _plack, "generic", "exact", True, needs="libplack-perl"),
    Server("webrick", _webrick, "generic", "approx", True, needs="ruby-webrick"),
    Server(
        "updog",
        _cmd("{venv}/bin/updog", "-d", "{root}", "-p", "{port}"),
        "generic",
        "approx",
        True,
        needs="PyPI updog",
    ),
    Server("tomcat", _tomcat, "tomcat", "approx", True, needs="tomcat10", ready_timeout=90),
]


def make_tree(root: Path) -> None:
    for rel, size in TREE_FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as fh:
            fh.write(b"x" * size)
        p.chmod(0o644)
    for p in sorted(root.rglob("*"), key=lambda q: -len(q.parts)):
        if p.is_dir():
            p.chmod(0o755)
        os.utime(p, (MTIME, MTIME))
    root.chmod(0o755)
    os.utime(root, (MTIME, MTIME))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(port: int, path: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Accept": accept, "User-Agent": "capture"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def capture(srv: Server, root: Path, scratch: Path) -> str:
    run = scratch / srv.id
    run.mkdir(parents=True, exist_ok=True)
    run.chmod(0o755)
    for sub in ("cb", "px", "fc", "uw", "sc"):
        (run / sub).mkdir(exist_ok=True)
    ctx = Ctx(root, run, _free_port())
    try:
        argv = srv.argv(ctx)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"skipped ({exc})"
    if not shutil.which(argv[0]) and not Path(argv[0]).exists():
        return f"skipped ({argv[0]} not installed; needs {srv.needs})"
    env = {**os.environ, "TZ": "UTC", "ROOT": str(root), **srv.env}
    log = (run / "server.log").open("wb")
    proc = subprocess.Popen(
        argv, cwd=run, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + srv.ready_timeout
        while True:
            try:
                status, headers, body = _fetch(ctx.port, srv.path.replace(" ", "%20"), srv.accept)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    return "failed: no answer (see " + str(run / "server.log") + ")"
                time.sleep(0.2)
        if status != 200:
            return f"failed: HTTP {status}"
        name = f"cap_{srv.id}.{srv.ext}"
        (OUT / name).write_bytes(body)
        expected = {
            "path": srv.path,
            "content_type": headers.get("content-type", ""),
            "server": headers.get("server", ""),
            "family": srv.family,
            "captured_from": f"{srv.needs}: regenerate.py {srv.id}",
            "sizes": srv.sizes,
            "dates": srv.dates,
            "dirs": srv.dirs,
            "entries": [{"name": n, "is_dir": d, "size": s} for n, d, s in SHARE_ENTRIES],
        }
        (OUT / f"{name}.expected.json").write_text(
            json.dumps(expected, indent=1, ensure_ascii=False) + "\n"
        )
        return f"ok ({len(body)} bytes)"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        for s in SERVERS:
            print(f"{s.id:22} {s.family:20} {s.needs}")
        return 0
    if not args.inside:  # re-run in a private network namespace: loopback only
        return subprocess.call(
            ["unshare", "--net", sys.executable, __file__, "--inside", *args.ids]
        )
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    wanted = [s for s in SERVERS if not args.ids or s.id in args.ids]
    # a fixed place, so that pages which show the served directory stay the same
    scratch = Path(tempfile.gettempdir()) / "listing-capture"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o755)
    root = scratch / "root"
    make_tree(root)
    try:
        for srv in wanted:
            print(f"{srv.id:22} {capture(srv, root, scratch)}", flush=True)
    finally:
        if not os.environ.get("CAPTURE_KEEP"):
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
