"""Every parser entry point in ``scanner/protocols/`` with the error types it declares.

Used by the hypothesis property tests (``tests/protocols/test_parser_properties.py``) and by the
long mutation run (``bench/fuzz.py``): a parser fed any bytes either returns or raises one of its
declared types; anything else (IndexError, RecursionError, OverflowError, ...) is a finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scanner.protocols import (
    ftp,
    http_client,
    iscsi,
    listing,
    listing_fields,
    listing_stream,
    listing_structure,
    mount,
    nfs3,
    nfs4,
    portmap,
    rpc,
    rsync,
    s3,
    sizes,
    tftp,
    upnp,
    webdav,
    xmlsafe,
)
from scanner.protocols.smb import header, messages, ntlm, smb1
from scanner.protocols.smb.errors import SmbProtocolError, SmbStatusError
from scanner.protocols.xdr import Unpacker, XDRError

TESTS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    declared: tuple[type[BaseException], ...]
    seeds: tuple[str, ...] = ()
    """Glob patterns (relative to tests/) of seed inputs for the mutation run."""
    examples: tuple[bytes, ...] = ()
    """Typical inputs written out here (text protocols without captures)."""


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _ftp_reply(data: bytes) -> ftp.Reply:
    code = int.from_bytes(data[:2], "big") % 1000
    return ftp.Reply(code, tuple(_text(data[2:]).split("\n")))


def _iscsi_login(data: bytes) -> object:
    return iscsi.parse_login_response(iscsi.PDU(data[:48].ljust(48, b"\0"), data[48:]))


def _iscsi_scsi(data: bytes) -> object:
    info = iscsi.LunInfo(0)
    iscsi.parse_inquiry(info, data)
    iscsi.parse_read_capacity10(info, data)
    iscsi.parse_mode_sense6(info, data)
    return iscsi.parse_report_luns(data)


def _iscsi_text(data: bytes) -> object:
    return iscsi.parse_send_targets(iscsi.decode_kv(data))


def _smb(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
    return parse


def _listing(data: bytes) -> object:
    for ctype in ("text/html", "application/json", "text/xml", ""):
        listing.parse_listing(data, path="/a/b/", content_type=ctype, server="nginx")
    # the path comes from a redirect the server chose: hostile too
    listing.parse_listing(data, path=_text(data[:40]), content_type="text/html")
    return None


def _listing_stream(data: bytes) -> object:
    for ctype, size in (("text/html", 7), ("text/html; charset=gbk", 1), ("", 4096)):
        s = listing_stream.ListingStream(path="/a/b/", content_type=ctype, max_entries=3)
        for i in range(0, len(data), size):
            if s.feed(data[i : i + size]):
                break
        s.close()
    return None


def _listing_text(data: bytes) -> object:
    text = _text(data)
    listing_fields.parse_size(text)
    listing_fields.find_date(text)
    return listing_fields.normalise_date(text)


def _rsync(data: bytes) -> object:
    lines = data.split(b"\n")
    rsync.matches_greeting(data)
    rsync.parse_module_reply(lines[0])
    rsync.parse_module_list(lines)
    rsync.parse_list_only(_text(data))
    return rsync.parse_greeting(lines[0])


def _s3(data: bytes) -> object:
    s3.parse_error(data)
    s3.parse_list_buckets(data)
    s3.fingerprint(200, [("Server", _text(data[:40]))], data)
    return s3.parse_list_objects(data)


def _xdr(decode: Callable[[Unpacker], object]) -> Callable[[bytes], object]:
    return lambda data: decode(Unpacker(data))


def _rpc(data: bytes) -> object:
    return rpc.decode_reply(data, int.from_bytes(data[:4].ljust(4, b"\0"), "big"))


_RPC_DECLARED = (rpc.RPCProtocolError, rpc.RPCDeniedError)
_FTP_LINES = (
    b"-rw-r--r--    1 ftp      ftp         41902 Mar 14  2019 19790312-2393_0701234567.wav",
    b"drwxr-xr-x    2 0        0            4096 Nov 23 13:11 recordings",
    b"lrwxrwxrwx    1 0        0               7 Jan 01 10:00 link -> target",
    b"03-14-19  10:15AM                41902 call.wav",
    b"03-14-19  10:15AM       <DIR>          backup",
    b"modify=20190314101500;perm=adfr;size=41902;type=file;unique=803U1; call.wav",
    b"modify=20190314101500;perm=flcdmpe;type=dir;unique=803U2; recordings",
    b"227 Entering Passive Mode (127,0,10,11,117,48).",
    b"229 Entering Extended Passive Mode (|||30000|)",
    b"211-Features:\r\n MLST size*;modify*;type*;\r\n AUTH TLS\r\n211 End\r\n",
    b"230 Login successful.\r\n",
)
_HTTP_HEADS = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 12\r\n\r\n",
    b"HTTP/1.0 301 Moved\r\nLocation: /a/\r\n\r\n",
)
_RSYNC = (
    b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n",
    b"recordings\tcall recordings\n@RSYNCD: EXIT\n",
    b"@RSYNCD: AUTHREQD abcdef\n", b"@ERROR: Unknown module 'x'\n",
    b"drwxr-xr-x          4,096 2019/03/14 10:15:00 2019/03",
    b"-rw-r--r--         41,902 2019/03/14 10:15:00 2019/03/call.wav",
)
_S3 = (
    b"<ListAllMyBucketsResult><Buckets><Bucket><Name>call-recordings</Name></Bucket></Buckets>"
    b"</ListAllMyBucketsResult>",
    b"<ListBucketResult><Name>b</Name><IsTruncated>true</IsTruncated><NextContinuationToken>t"
    b"</NextContinuationToken><Contents><Key>a.wav</Key><Size>41902</Size><LastModified>"
    b"2019-03-14T10:15:00.000Z</LastModified></Contents></ListBucketResult>",
    b"<Error><Code>AccessDenied</Code><Message>no</Message><BucketName>b</BucketName></Error>",
)
_DAV = (
    b"<D:multistatus xmlns:D='DAV:'><D:response><D:href>/dav/a.wav</D:href><D:propstat><D:prop>"
    b"<D:getcontentlength>41902</D:getcontentlength><D:resourcetype/><D:getlastmodified>"
    b"Thu, 14 Mar 2019 10:15:00 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK"
    b"</D:status></D:propstat></D:response></D:multistatus>",
)
_SMB = (SmbProtocolError, SmbStatusError)

TARGETS: tuple[Target, ...] = (
    Target("ftp.parse_replies", ftp.parse_replies, (ftp.FtpProtocolError,),
           examples=_FTP_LINES),
    Target("ftp.parse_list_line", lambda d: ftp.parse_list_line(_text(d)),
           (ftp.FtpProtocolError,), examples=_FTP_LINES),
    Target("ftp.parse_mlsd_line", lambda d: ftp.parse_mlsd_line(_text(d)),
           (ftp.FtpProtocolError,), examples=_FTP_LINES),
    Target("ftp.parse_pasv_epsv_feat",
           lambda d: (ftp.parse_feat(_ftp_reply(d)), _pasv(d), _epsv(d)),
           (ftp.FtpProtocolError,), examples=_FTP_LINES),
    Target("http_client.parse_head", http_client.parse_head, (http_client.HttpError,),
           examples=_HTTP_HEADS),
    Target("iscsi.parse_login_response", _iscsi_login, (iscsi.ISCSIProtocolError,),
           ("captures/iscsi_login_*.bin",)),
    Target("iscsi.parse_bhs", lambda d: iscsi.parse_bhs(d[:48].ljust(48, b"\0")),
           (iscsi.ISCSIProtocolError,), ("captures/iscsi_*.bin",)),
    Target("iscsi.scsi_data", _iscsi_scsi, (iscsi.ISCSIProtocolError,)),
    Target("iscsi.decode_kv+send_targets", _iscsi_text, (iscsi.ISCSIProtocolError,),
           ("captures/iscsi_text_sendtargets.bin",)),
    Target("listing.parse_listing", _listing, (), ("listing_corpus/*.html",
                                                     "listing_corpus/*.json",
                                                     "listing_corpus/*.xml")),
    Target("listing_stream.ListingStream", _listing_stream, (), ("listing_corpus/*.html",)),
    Target("listing_fields.sizes_dates", _listing_text, ()),
    Target("mount.decode_exports", _xdr(mount.decode_exports), (XDRError,),
           ("captures/rpc_mount_*.bin",)),
    Target("mount.decode_mnt", _xdr(mount.decode_mnt), (XDRError,),
           ("captures/rpc_mount_*.bin",)),
    Target("nfs3.decode_readdirplus", _xdr(nfs3.decode_readdirplus), (XDRError, nfs3.NFS3Error),
           ("captures/rpc_nfs3_*.bin",)),
    Target("nfs3.decode_fsinfo", _xdr(nfs3.decode_fsinfo), (XDRError, nfs3.NFS3Error),
           ("captures/rpc_nfs3_*.bin",)),
    Target("nfs3.decode_access", _xdr(nfs3.decode_access), (XDRError, nfs3.NFS3Error),
           ("captures/rpc_nfs3_*.bin",)),
    Target("nfs3.decode_read", _xdr(nfs3.decode_read), (XDRError, nfs3.NFS3Error)),
    Target("nfs4.decode_compound", _xdr(nfs4.decode_compound), (XDRError,),
           ("captures/rpc_nfs4_*.bin",)),
    Target("nfs4.decode_fattr4", _xdr(nfs4.decode_fattr4), (XDRError,),
           ("captures/rpc_nfs4_*.bin",)),
    Target("portmap.decode_dump", _xdr(portmap.decode_dump), (XDRError,),
           ("captures/rpc_portmap_*.bin",)),
    Target("rpc.decode_reply", _rpc, _RPC_DECLARED, ("captures/rpc_*.bin",)),
    Target("rsync.parsers", _rsync, (rsync.RsyncProtocolError,), examples=_RSYNC),
    Target("s3.parsers", _s3, (), examples=_S3),
    Target("smb.header.parse_frame_header",
           lambda d: header.parse_frame_header(d[:4].ljust(4, b"\0")), _SMB),
    Target("smb.messages.parse_negotiate_response", messages.parse_negotiate_response,
           _SMB, ("captures/smb/*negotiate*",)),
    Target("smb.smb1.parse_smb1_negotiate_response", smb1.parse_smb1_negotiate_response,
           _SMB, ("captures/smb/*smb1*",)),
    Target("smb.messages.parse_session_setup_response", messages.parse_session_setup_response,
           _SMB, ("captures/smb/*session*",)),
    Target("smb.ntlm.parse_ntlm_challenge", ntlm.parse_ntlm_challenge, _SMB,
           ("captures/smb/*challenge*",)),
    Target("smb.messages.parse_tree_connect_response", messages.parse_tree_connect_response,
           _SMB, ("captures/smb/*tree*",)),
    Target("smb.messages.parse_create_response", messages.parse_create_response,
           _SMB, ("captures/smb/*create*",)),
    Target("smb.messages.parse_query_directory_response", messages.parse_query_directory_response,
           _SMB, ("captures/smb/*query*",)),
    Target("smb.messages.parse_directory_information", messages.parse_directory_information,
           _SMB, ("captures/smb/*query*",)),
    Target("tftp.parse", tftp.parse, (tftp.TFTPProtocolError,), ("captures/tftp_*.bin",)),
    Target("webdav.parse_multistatus", webdav.parse_multistatus, (ValueError,),
           examples=_DAV),
    Target("xmlsafe.parse_xml", xmlsafe.parse_xml, (ValueError,), ("listing_corpus/*.xml",)),
    Target("sizes.parse_decimal", lambda d: sizes.parse_decimal(_text(d)), ()),
    Target("listing_structure.structural_listing",
           lambda d: listing_structure.structural_listing(_text(d), "/share/"), (),
           ("listing_corpus/*.html",)),
    Target("listing_structure.json_listing",
           lambda d: listing_structure.json_listing(_json_or_none(d)), (),
           ("listing_corpus/*.json",)),
    Target("upnp.parse_ssdp_reply", upnp.parse_ssdp_reply, (ValueError,)),
    Target("upnp.parse_description",
           lambda d: upnp.parse_description(d, "http://127.0.0.1:8200/rootDesc.xml"),
           (ValueError,), ("captures/dlna/*rootDesc*",)),
    Target("upnp.parse_browse_response", upnp.parse_browse_response, (ValueError,),
           ("captures/dlna/*rowse*",)),
    Target("upnp.parse_didl", lambda d: upnp.parse_didl(_text(d)), (ValueError,)),
)


def _json_or_none(data: bytes) -> object:
    import json

    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # the JSON decoder's own limits, not the parser's
        return None


def _pasv(data: bytes) -> object:
    try:
        return ftp.parse_pasv(_ftp_reply(data))
    except ftp.FtpProtocolError:
        return None


def _epsv(data: bytes) -> object:
    return ftp.parse_epsv(_ftp_reply(data))


def seeds(target: Target, limit: int = 64) -> list[bytes]:
    """Seed inputs for ``target`` from tests/captures and tests/listing_corpus."""
    out: list[bytes] = list(target.examples)
    for pattern in target.seeds:
        for path in sorted(TESTS.glob(pattern)):
            if path.is_file() and not path.name.endswith(".expected.json"):
                out.append(path.read_bytes()[:200_000])
    return out[:limit]


def check(target: Target, data: bytes) -> BaseException | None:
    """None when ``target`` returned or raised a declared error; else the exception."""
    try:
        target.run(data)
    except target.declared:
        return None
    except Exception as exc:
        return exc
    return None
