"""Hostile media servers (in-process, on 127.0.67.x): endless containers, a server that ignores
StartingIndex, DIDL-Lite entity bombs, SSDP LOCATIONs out of scope, a SOAP 606 and a plain web
page. The DLNA probe must stay inside its request budget and timeout, refuse entities, never
connect out of scope, and report nothing it did not see."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from probes.dlna import PROBE
from scanner.dialer import Dialer
from scanner.engine import scan_targets
from scanner.models import Access, Kind, ServiceInfo, Severity, Status, Transport
from scanner.probe import ListingBounds, ProbeContext
from scanner.protocols.xmlsafe import parse_xml

HOST = "127.0.67.1"
OUTSIDE = "127.0.67.2"
TIMEOUT = 8.0
Handler = Callable[[str, str, bytes], bytes]


def http(status: str, body: bytes, ctype: str = 'text/xml; charset="utf-8"') -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body  # fmt: skip


def description(ctl: str = "/ctl/ContentDir", urlbase: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        f"{urlbase}<device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>"
        "<friendlyName>hostile</friendlyName><serviceList><service><serviceType>"
        "urn:schemas-upnp-org:service:ContentDirectory:1</serviceType><controlURL>"
        f"{ctl}</controlURL></service></serviceList></device></root>"
    ).encode()


def envelope(didl: str, returned: int, total: int) -> bytes:
    return (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        '<s:Body><u:BrowseResponse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">'
        f"<Result>{escape(didl)}</Result><NumberReturned>{returned}</NumberReturned>"
        f"<TotalMatches>{total}</TotalMatches><UpdateID>1</UpdateID>"
        "</u:BrowseResponse></s:Body></s:Envelope>"
    ).encode()


def didl(containers: list[str], items: list[tuple[str, str]]) -> str:
    ns = ('xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/" '
          'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/"')  # fmt: skip
    parts = [
        f"<container id={quoteattr(c)} parentID=\"x\"><dc:title>{escape(c.rsplit('$', 1)[-1])}"
        "</dc:title><upnp:class>object.container.storageFolder</upnp:class></container>"
        for c in containers
    ]
    parts += [
        f"<item id={quoteattr(i)} parentID=\"x\"><dc:title>{escape(t)}</dc:title><upnp:class>"
        "object.item.audioItem</upnp:class><res size=\"1000\" protocolInfo=\"http-get:*:"
        f"audio/x-wav:*\">http://{HOST}/m/{escape(i)}.wav</res></item>"
        for i, t in items
    ]
    return f"<DIDL-Lite {ns}>{''.join(parts)}</DIDL-Lite>"


def browse_args(body: bytes) -> tuple[str, int, int]:
    b = parse_xml(body).find("Body/Browse")
    assert b is not None
    return (b.findtext("ObjectID") or "", int(b.findtext("StartingIndex") or 0),
            int(b.findtext("RequestedCount") or 0))  # fmt: skip


@contextlib.asynccontextmanager
async def serve(addr: str, handler: Handler, log: list[str]) -> AsyncIterator[int]:
    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            body = await asyncio.wait_for(r.readexactly(length), 5) if length else b""
            log.append(f"{method} {path}")
            w.write(handler(method, path, body))
            await w.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(on_conn, addr, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def media_server(browse: Callable[[str, int, int], bytes]) -> Handler:
    def handler(method: str, path: str, body: bytes) -> bytes:
        if method == "GET" and path == "/rootDesc.xml":
            return http("200 OK", description())
        if method == "POST" and path == "/ctl/ContentDir":
            return http("200 OK", browse(*browse_args(body)))
        if method == "HEAD":
            return http("200 OK", b"")
        return http("404 Not Found", b"")

    return handler


def ctx_for(dialer: Dialer, requests: int = 20, **options: object) -> ProbeContext:
    return ProbeContext(
        dialer=dialer, bounds=ListingBounds(requests=requests), timeout=TIMEOUT,
        options={"dlna.ssdp": "0", **options},
    )  # fmt: skip


async def test_endless_containers_bounded_by_the_request_budget(dialer: Dialer) -> None:
    def browse(oid: str, start: int, count: int) -> bytes:
        kids = [f"{oid}${i}" for i in range(40)]
        return envelope(didl(kids, [(f"{oid}$f", f"rec_{oid.replace('$', '_')}")]), 41, 41)

    log: list[str] = []
    async with serve(HOST, media_server(browse), log) as port:
        t0 = time.monotonic()
        res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer, requests=20))
        elapsed = time.monotonic() - t0
    assert res.status == Status.SUCCESS, res.detail
    posts = [x for x in log if x.startswith("POST")]
    assert 1 < len(posts) <= 19  # the listing's budget: bounds.requests minus the HEAD
    assert sum(x.startswith("HEAD") for x in log) == 1
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and f.listing.truncated and f.listing.stopped_by == "requests"
    files = [e for e in f.listing.entries if not e.is_dir]
    assert len(files) == len(posts)  # one new item per listed container, each counted once
    assert f.listing.estimate is not None and f.listing.estimate["files"] > len(files)
    assert f.access == Access.READ
    assert elapsed < TIMEOUT


async def test_server_ignoring_starting_index_is_a_loop(dialer: Dialer) -> None:
    page = [(f"i{n}", f"t{n}") for n in range(200)]

    def browse(oid: str, start: int, count: int) -> bytes:
        return envelope(didl([], page), 200, 10**9)  # the same page whatever StartingIndex says

    log: list[str] = []
    async with serve(HOST, media_server(browse), log) as port:
        res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
    assert res.status == Status.SUCCESS, res.detail
    assert sum(x.startswith("POST") for x in log) == 2  # page 2 equals page 1: stop
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None and f.listing.loops >= 1
    assert len([e for e in f.listing.entries if not e.is_dir]) == 200


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE DIDL-Lite [<!ENTITY a "' + "a" * 100 + '">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 20}">' for i in range(8))
    + ']><DIDL-Lite><item id="1"><title>&i;</title></item></DIDL-Lite>'
)


async def test_entity_bomb_on_the_root_is_a_protocol_error(dialer: Dialer) -> None:
    log: list[str] = []
    async with serve(HOST, media_server(lambda *_: envelope(BOMB, 1, 1)), log) as port:
        tracemalloc.start()
        t0 = time.monotonic()
        try:
            res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert res.status == Status.PROTOCOL_ERROR and not res.findings
    assert "DTD/entity" in (res.detail or "")
    assert time.monotonic() - t0 < 2.0 and peak < 20 * 1024 * 1024


async def test_entity_bomb_in_a_container_keeps_what_was_listed(dialer: Dialer) -> None:
    def browse(oid: str, start: int, count: int) -> bytes:
        if oid == "0":
            return envelope(didl(["0$good", "0$bomb"], [("r1", "call_1")]), 3, 3)
        if oid == "0$good":
            return envelope(didl([], [("r2", "call_2")]), 1, 1)
        return envelope(BOMB, 1, 1)

    log: list[str] = []
    async with serve(HOST, media_server(browse), log) as port:
        res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
    assert res.status == Status.SUCCESS
    (f,) = [f for f in res.findings if f.kind == Kind.UNAUTHENTICATED_ACCESS]
    assert f.listing is not None
    assert {e.path for e in f.listing.entries if not e.is_dir} == {"/call_1.wav",
                                                                   "/good/call_2.wav"}
    assert f.listing.partial and "UnsafeXMLError" in f.listing.partial


async def test_ssdp_location_out_of_scope_is_refused_by_the_dialer() -> None:
    outside_hits: list[str] = []
    log: list[str] = []
    datagrams: list[tuple[bytes, tuple[str, int]]] = []

    def browse(oid: str, start: int, count: int) -> bytes:
        return envelope(didl([], [("r1", "19790312-2393_0701234567_20190314T101500")]), 1, 1)

    handler = media_server(browse)

    def at_custom_path(method: str, path: str, body: bytes) -> bytes:
        if path == "/upnp/dev-4d69/desc.xml":  # only reachable through SSDP's LOCATION
            return http("200 OK", description())
        if path == "/rootDesc.xml":
            return http("404 Not Found", b"")
        return handler(method, path, body)

    async with serve(HOST, at_custom_path, log) as port, \
            serve(OUTSIDE, lambda *_: http("200 OK", description()), outside_hits) as oport:
        locations = [f"http://{OUTSIDE}:{oport}/rootDesc.xml",
                     f"http://{HOST}:{port}/upnp/dev-4d69/desc.xml"]  # fmt: skip

        class Responder(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.t: Any = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                datagrams.append((data, addr))
                for loc in locations:
                    self.t.sendto(
                        f"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: {loc}\r\n"
                        "SERVER: hostile UPnP/1.0\r\n\r\n".encode(), addr,
                    )  # fmt: skip

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Responder, local_addr=(HOST, 0))
        ssdp_port = transport.get_extra_info("sockname")[1]
        dialer = Dialer(ipaddress.ip_network(f"{HOST}/32"), connect_timeout=2.0, read_timeout=3.0)
        try:
            ctx = ctx_for(dialer, **{"dlna.ssdp": "1", "dlna.ssdp_port": ssdp_port})
            res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx)
            # an unclaimed port is DLNA when SSDP names it; the host is searched once per scan
            assert await PROBE.detect(ServiceInfo(host=HOST, port=port), ctx)
            assert not await PROBE.detect(ServiceInfo(host=HOST, port=oport), ctx)
        finally:
            transport.close()
            dialer.shutdown()
    assert res.status == Status.SUCCESS, res.detail
    assert len(datagrams) == 1 and datagrams[0][0].startswith(b"M-SEARCH * HTTP/1.1\r\n")
    assert f"HOST: {HOST}:{ssdp_port}".encode() in datagrams[0][0]
    assert outside_hits == [] and dialer.refused_out_of_scope >= 1
    assert res.info["ssdp_locations_out_of_scope"] == [locations[0]]
    assert res.info["description"].endswith("/upnp/dev-4d69/desc.xml")
    assert "GET /rootDesc.xml" not in log  # SSDP's location came first and answered
    kinds = {f.kind for f in res.findings}
    assert kinds == {Kind.UNAUTHENTICATED_ACCESS, Kind.CLEARTEXT_TRANSPORT}


async def test_browse_not_authorized_is_auth_required(dialer: Dialer) -> None:
    fault = (
        b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
        b'<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>606</errorCode>'
        b"<errorDescription>Action not authorized</errorDescription></UPnPError></detail>"
        b"</s:Fault></s:Body></s:Envelope>"
    )

    def handler(method: str, path: str, body: bytes) -> bytes:
        if path == "/rootDesc.xml":
            return http("200 OK", description())
        return http("500 Internal Server Error", fault)

    log: list[str] = []
    async with serve(HOST, handler, log) as port:
        res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
    assert res.status == Status.AUTH_REQUIRED and not res.findings
    assert "606" in (res.detail or "")


async def test_plain_web_page_is_not_applicable(dialer: Dialer) -> None:
    page = b"<html><body><h1>Media portal</h1></body></html>"
    log: list[str] = []
    async with serve(HOST, lambda *_: http("200 OK", page, "text/html"), log) as port:
        res = await PROBE.run(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
        assert not await PROBE.detect(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
    assert res.status == Status.NOT_APPLICABLE and not res.findings
    assert all(x.startswith("GET ") for x in log) and len(log) <= 4


async def test_detect_by_description_without_ssdp(dialer: Dialer) -> None:
    log: list[str] = []
    handler = media_server(lambda *_: envelope(didl([], []), 0, 0))
    async with serve(HOST, handler, log) as port:
        assert await PROBE.detect(ServiceInfo(host=HOST, port=port), ctx_for(dialer))
        # a server speaking first (FTP, rsync...) is never asked
        assert not await PROBE.detect(
            ServiceInfo(host=HOST, port=port, greeting=b"220 ftp\r\n"), ctx_for(dialer)
        )
    assert log == ["GET /rootDesc.xml"]


async def test_scan_finds_a_media_server_on_an_unclaimed_port() -> None:
    def browse(oid: str, start: int, count: int) -> bytes:
        return envelope(didl([], [("r1", "19790312-2393_0701234567_20190314T101500")]), 1, 1)

    log: list[str] = []
    async with serve(HOST, media_server(browse), log) as port:
        assert not PROBE.claims_port(port, Transport.TCP)
        report = await scan_targets([HOST], ports=str(port), probes="dlna,http",
                                    probe_options={"dlna.ssdp": "0"})  # fmt: skip
    (svc,) = report.services
    assert svc.probes == {"dlna": Status.SUCCESS}
    kinds = sorted((f.kind, f.severity) for f in report.findings)
    assert kinds == [(Kind.CLEARTEXT_TRANSPORT, Severity.MEDIUM),
                     (Kind.UNAUTHENTICATED_ACCESS, Severity.CRITICAL)]  # fmt: skip
