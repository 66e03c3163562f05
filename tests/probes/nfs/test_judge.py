"""The NFS probe's judge on facts built here: no server, no network."""

from __future__ import annotations

from probes.nfs import PROBE, ExportFacts, NfsFacts
from scanner.crawl import CrawlResult
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Entry,
    Kind,
    Listing,
    ServiceInfo,
    Status,
)
from scanner.probe_skeleton import Cut, Samples
from scanner.protocols import mount, nfs3
from scanner.protocols.rpc import AuthFlavor

HOST = "127.0.0.1"
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt "


def facts(port: int = 2049, **kw: object) -> NfsFacts:
    f = NfsFacts(ServiceInfo(host=HOST, port=port), **kw)  # type: ignore[arg-type]
    f.rpc_programs = ["mountd v3/tcp:20048", "nfs v3/tcp:2049", "nfs v4/tcp:2049"]
    f.registered = True
    f.nfs_port = 2049
    return f


def open_export(path: str = "/export/open", **kw: object) -> ExportFacts:
    st = ExportFacts(path, clients=(), flavors={AuthFlavor.AUTH_SYS},
                     versions={"nfsv3", "nfsv4"}, **kw)  # type: ignore[arg-type]
    st.listing = Listing(entries=[Entry(path="/2019", is_dir=True),
                                  Entry(path="/2019/call.wav", size=2048)])
    return st


def krb_export(path: str = "/export/secure") -> ExportFacts:
    return ExportFacts(path, clients=("*",), flavors={AuthFlavor.KRB5P},
                       auth_required={"nfsv3", "nfsv4"},
                       errors=["nfsv3 MNT: NFS3ERR_ACCES", "nfsv4 READDIR: NFS4ERR_WRONGSEC"])


def test_rpcbind_without_nfs_is_not_applicable() -> None:
    f = NfsFacts(ServiceInfo(host=HOST, port=111), registered=False,
                 rpc_programs=["portmapper v2/tcp:111"], privileged_source_port=True)
    res = PROBE.judge(f, None)
    assert res.status is Status.NOT_APPLICABLE and res.protocol == "rpcbind"
    assert res.info == {"rpc_programs": ["portmapper v2/tcp:111"],
                        "privileged_source_port": True}
    assert not res.findings


def test_open_export_is_unauthenticated_and_cleartext() -> None:
    f = facts()
    f.export_list = [mount.Export("/export/open", ()), mount.Export("/export/secure", ("*",))]
    f.exports = {"/export/open": open_export(access_bits=nfs3.ACCESS3_READ | nfs3.ACCESS3_LOOKUP),
                 "/export/secure": krb_export()}
    res = PROBE.judge(f, None)
    assert res.status is Status.SUCCESS and res.protocol == "nfs"
    assert res.detail == "2 export(s), 1 open"
    unauth, clear = res.findings
    assert unauth.kind is Kind.UNAUTHENTICATED_ACCESS and unauth.resource == "/export/open"
    assert (unauth.host, unauth.port, unauth.protocol, unauth.probe) == (HOST, 2049, "nfs", "nfs")
    assert unauth.authentication is Authentication.NONE
    assert unauth.encryption is Encryption.NONE and unauth.access is Access.READ
    assert unauth.evidence == {
        "versions": ["nfsv3", "nfsv4"], "flavors": ["sys"],
        "credential": "AUTH_SYS uid=65534 gid=65534",
        "clients": ["(everyone)"], "open_to": "everyone", "nfsv3_access": ["read", "lookup"],
    }
    assert unauth.title == ("NFS export /export/open mounts and lists with AUTH_SYS over "
                            "NFSv3 and NFSv4")
    assert unauth.listing is not None and len(unauth.listing.entries) == 2
    assert clear.kind is Kind.CLEARTEXT_TRANSPORT and clear.encryption is Encryption.NONE
    assert clear.resource == "/export/open" and clear.listing is None
    states = res.info["export_states"]
    assert states["/export/secure"] == {
        "versions": [], "auth_required": ["nfsv3", "nfsv4"], "flavors": ["krb5p"],
        "errors": ["nfsv3 MNT: NFS3ERR_ACCES", "nfsv4 READDIR: NFS4ERR_WRONGSEC"],
    }
    assert res.info["exports"][0] == {"path": "/export/open", "clients": ["(everyone)"]}
    assert res.info["nfs_port"] == 2049 and res.info["transport"] == "tcp"


def test_findings_name_the_nfs_port_whichever_port_was_probed() -> None:
    a, b = facts(port=111), facts(port=2049)
    a.exports = {"/e": open_export("/e")}
    b.exports = {"/e": open_export("/e")}
    fa, fb = PROBE.judge(a, None).findings, PROBE.judge(b, None).findings
    assert [x.port for x in fa] == [2049, 2049]
    assert [x.id for x in fa] == [x.id for x in fb]


def test_write_bits_mean_write_access_and_no_access_answer_means_list() -> None:
    f = facts()
    f.exports = {"/w": open_export("/w", access_bits=nfs3.ACCESS3_READ | nfs3.ACCESS3_MODIFY),
                 "/l": open_export("/l")}
    by = {x.resource: x for x in PROBE.judge(f, None).findings
          if x.kind is Kind.UNAUTHENTICATED_ACCESS}
    assert by["/w"].access is Access.WRITE and "modify" in by["/w"].evidence["nfsv3_access"]
    assert by["/l"].access is Access.LIST and "nfsv3_access" not in by["/l"].evidence


def test_krb5p_offered_beside_sys_is_optional_encryption() -> None:
    f = facts()
    f.exports = {"/m": open_export("/m")}
    f.exports["/m"].flavors.add(AuthFlavor.KRB5P)
    unauth, clear = PROBE.judge(f, None).findings
    assert unauth.encryption is Encryption.OPTIONAL
    assert clear.encryption is Encryption.OPTIONAL
    assert clear.evidence == {"versions": ["nfsv3", "nfsv4"], "flavors": ["krb5p", "sys"]}


def test_kerberos_only_exports_are_auth_required() -> None:
    f = facts()
    f.exports = {"/export/secure": krb_export()}
    res = PROBE.judge(f, None)
    assert res.status is Status.AUTH_REQUIRED and not res.findings
    assert res.detail == "1 export(s), all require other authentication (e.g. Kerberos)"


def test_v4_only_listing_names_nfsv4_alone() -> None:
    f = facts()
    st = open_export("/v4")
    st.versions, st.clients = {"nfsv4"}, None  # met in the NFSv4 walk only: no client list
    f.exports = {"/v4": st}
    unauth = PROBE.judge(f, None).findings[0]
    assert unauth.title.endswith("over NFSv4")
    assert "clients" not in unauth.evidence and "open_to" not in unauth.evidence


def test_samples_become_evidence_only_when_sampling() -> None:
    f = facts(sample=Samples(size=16, files=3))
    st = open_export()
    st.samples = Samples(size=16, files=3, data={"/2019/call.wav": WAV[:16]},
                         errors={"/2019/x.txt": "NFS3ERR_ACCES"})
    v4 = open_export("/v4")
    v4.versions = {"nfsv4"}
    v4.samples = Samples(size=16, files=3)
    f.exports = {"/export/open": st, "/v4": v4}
    by = {x.resource: x for x in PROBE.judge(f, None).findings
          if x.kind is Kind.UNAUTHENTICATED_ACCESS}
    ev = by["/export/open"].evidence
    assert ev["intrusive"] == ["sample-bytes"] and ev["sample_bytes"] == 16
    assert ev["sampled_files"] == 1 and ev["sniffed"] == {"/2019/call.wav": "wav"}
    assert ev["sample_errors"] == {"/2019/x.txt": "NFS3ERR_ACCES"}
    assert by["/v4"].evidence["sample_note"] == "file bodies are sampled over NFSv3 only"
    assert by["/v4"].evidence["sampled_files"] == 0
    plain = facts()
    plain.exports = {"/export/open": open_export()}
    assert "intrusive" not in PROBE.judge(plain, None).findings[0].evidence


def test_cut_before_any_export_is_the_cut_alone() -> None:
    f = NfsFacts(ServiceInfo(host=HOST, port=111))
    res = PROBE.judge(f, Cut(Status.TIMEOUT, "no RPC reply in time", "TimeoutError"))
    assert res.status is Status.TIMEOUT and res.detail == "no RPC reply in time"
    assert not res.findings and res.protocol is None
    denied = PROBE.judge(f, Cut(Status.AUTH_REQUIRED, "AUTH_TOOWEAK", "RPCDeniedError"))
    assert denied.status is Status.AUTH_REQUIRED and denied.protocol == "nfs"


def test_cut_after_an_export_keeps_what_it_proved() -> None:
    f = facts()
    f.exports = {"/export/open": open_export(), "/export/secure": krb_export()}
    res = PROBE.judge(f, Cut(Status.TIMEOUT, "no RPC reply in time", "TimeoutError"))
    assert res.status is Status.TIMEOUT
    assert res.detail == "no RPC reply in time (2 export(s), 1 open seen)"
    assert {x.kind for x in res.findings} == {Kind.UNAUTHENTICATED_ACCESS,
                                              Kind.CLEARTEXT_TRANSPORT}
    assert "export_states" in res.info


def test_cut_mid_crawl_reports_the_export_as_far_as_it_was_listed() -> None:
    f = facts()
    st = ExportFacts("/export/open", clients=())
    st.flavors = {AuthFlavor.AUTH_SYS}
    st.crawling = {"nfsv3": CrawlResult(entries=[Entry(path="/2019", is_dir=True)],
                                        dirs_listed=1)}
    silent = ExportFacts("/export/other", clients=())
    silent.crawling = {"nfsv3": CrawlResult()}  # cut before its root was listed: proves nothing
    f.exports = {st.path: st, silent.path: silent}
    res = PROBE.judge(f, Cut(Status.TIMEOUT, "no RPC reply in time", "TimeoutError"))
    assert res.status is Status.TIMEOUT
    unauth = [x for x in res.findings if x.kind is Kind.UNAUTHENTICATED_ACCESS]
    assert [x.resource for x in unauth] == ["/export/open"]
    assert unauth[0].evidence["versions"] == ["nfsv3"]
    listing = unauth[0].listing
    assert listing is not None and listing.truncated and listing.stopped_by == "deadline"
    assert [e.path for e in listing.entries] == ["/2019"]
    # without a cut a crawl still in the facts is not judged (it cannot be: gather finished)
    assert not [x for x in PROBE.judge(f, None).findings if x.kind is Kind.UNAUTHENTICATED_ACCESS]
