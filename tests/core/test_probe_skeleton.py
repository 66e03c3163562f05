"""The gather/judge skeleton (scanner/probe_skeleton.py): one deadline, one exception -> status
mapping, partial results judged, never raising; the finding builder, ``Samples`` evidence and
typed options. Probes here are built in the test and talk to nobody."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from scanner.dialer import OutOfScopeError
from scanner.models import (
    Access,
    Authentication,
    Encryption,
    Kind,
    Listing,
    ProbeResult,
    ServiceInfo,
    Status,
    Transport,
)
from scanner.probe import (
    MAX_SAMPLE_READ,
    ProbeContext,
    ProbeOption,
    result_for_exception,
    status_for_exception,
)
from scanner.probe_skeleton import (
    GATHER_SHARE,
    AuthRequired,
    Cut,
    Deadline,
    Facts,
    GatherJudgeProbe,
    NotApplicable,
    Samples,
)

SERVICE = ServiceInfo(host="127.0.0.9", hostname="box.lan", port=4242, transport=Transport.UDP)
MakeCtx = Callable[..., ProbeContext]


class ForeignError(Exception):
    pass


class DeniedError(Exception):
    pass


class BrokenError(Exception):
    pass


@dataclass
class StepFacts(Facts):
    steps: list[str] = field(default_factory=list)
    judged_with: list[Cut | None] = field(default_factory=list)


class StepProbe(GatherJudgeProbe[StepFacts]):
    """Records steps; then does what ``then`` says (raise, hang, return)."""

    name = "steps"
    default_ports: ClassVar[tuple[int, ...]] = (4242,)
    description = "test"
    facts_type = StepFacts
    foreign_errors = (ForeignError,)
    auth_errors = (DeniedError,)
    protocol_errors = (BrokenError,)
    timeout_detail = "steps took too long"
    options: ClassVar[tuple[ProbeOption, ...]] = (
        ProbeOption("count", "int", 3, "steps", minimum=1),
        ProbeOption("names", "list", ("a", "b"), "names"),
    )

    def __init__(self, then: BaseException | str | None = None) -> None:
        self.then = then
        self.last_facts: StepFacts | None = None

    async def gather(
        self, service: ServiceInfo, ctx: ProbeContext, facts: StepFacts, deadline: Deadline
    ) -> None:
        self.last_facts = facts
        facts.steps.append("greeting")
        if self.then == "hang":
            await asyncio.sleep(3600)
        if self.then == "judge-raises":
            facts.steps.append("boom")
        elif isinstance(self.then, BaseException):
            raise self.then
        facts.steps.append("done")

    def judge(self, facts: StepFacts, cut: Cut | None) -> ProbeResult:
        facts.judged_with.append(cut)
        if "boom" in facts.steps:
            raise RuntimeError("judge bug")
        finding = self.unauthenticated(facts, "/", "open", remediation="close it")
        if cut is not None:
            return cut.result(findings=[finding], info={"steps": list(facts.steps)})
        return ProbeResult(status=Status.SUCCESS, findings=[finding],
                           info={"steps": list(facts.steps)})


async def test_gather_then_judge_without_cut(make_ctx: MakeCtx) -> None:
    probe = StepProbe()
    result = await probe.run(SERVICE, make_ctx(timeout=5.0))
    assert result.status is Status.SUCCESS and result.info["steps"] == ["greeting", "done"]
    assert probe.last_facts is not None and probe.last_facts.judged_with == [None]
    assert probe.last_facts.service == SERVICE


async def test_the_deadline_cuts_gather_and_the_partial_facts_are_judged(
    make_ctx: MakeCtx,
) -> None:
    probe = StepProbe("hang")
    timeout = 0.4
    started = time.monotonic()
    result = await probe.run(SERVICE, make_ctx(timeout=timeout))
    took = time.monotonic() - started
    assert result.status is Status.TIMEOUT and result.detail == "steps took too long"
    assert result.info["steps"] == ["greeting"]  # what was seen before the cut
    assert [f.kind for f in result.findings] == [Kind.UNAUTHENTICATED_ACCESS]
    # cut at GATHER_SHARE of the timeout: before the engine's own cut-off
    assert timeout * GATHER_SHARE - 0.05 <= took < timeout


@pytest.mark.parametrize(
    ("exc", "status", "detail"),
    [
        (ConnectionRefusedError(111, "refused"), Status.REFUSED, "connection refused"),
        (TimeoutError(), Status.TIMEOUT, "steps took too long"),
        (BrokenError("bad frame"), Status.PROTOCOL_ERROR, "bad frame"),
        (DeniedError("login denied"), Status.AUTH_REQUIRED, "login denied"),
        (AuthRequired("password wanted"), Status.AUTH_REQUIRED, "password wanted"),
        (OutOfScopeError("192.0.2.1", 21), Status.ERROR,
         "refused to dial 192.0.2.1:21: outside the scan scope"),
        (OSError("network unreachable"), Status.ERROR, "OSError: network unreachable"),
        (KeyError("x"), Status.ERROR, "KeyError: 'x'"),
    ],
)
async def test_one_mapping_from_exception_to_status(
    make_ctx: MakeCtx, exc: BaseException, status: Status, detail: str
) -> None:
    probe = StepProbe(exc)
    result = await probe.run(SERVICE, make_ctx(timeout=5.0))
    assert (result.status, result.detail) == (status, detail)
    assert probe.last_facts is not None
    (cut,) = probe.last_facts.judged_with
    assert cut == Cut(status, detail, type(exc).__name__)
    assert result.info["steps"] == ["greeting"] and len(result.findings) == 1


@pytest.mark.parametrize("exc", [ForeignError("not mine"), NotApplicable("not mine")])
async def test_not_applicable_skips_the_judge(make_ctx: MakeCtx, exc: BaseException) -> None:
    probe = StepProbe(exc)
    result = await probe.run(SERVICE, make_ctx(timeout=5.0))
    assert (result.status, result.detail, result.findings) == (
        Status.NOT_APPLICABLE, "not mine", [])
    assert probe.last_facts is not None and probe.last_facts.judged_with == []


async def test_a_judge_that_raises_is_an_error_result(make_ctx: MakeCtx) -> None:
    result = await StepProbe("judge-raises").run(SERVICE, make_ctx(timeout=5.0))
    assert result.status is Status.ERROR
    assert result.detail == "judge raised RuntimeError: judge bug"


async def test_cancellation_is_not_swallowed(make_ctx: MakeCtx) -> None:
    task = asyncio.create_task(StepProbe("hang").run(SERVICE, make_ctx(timeout=60.0)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_deadline_arithmetic() -> None:
    d = Deadline.after(10.0)
    assert d.total == 10.0 and 9.5 < d.left() <= 10.0 and not d.expired()
    sub = d.sooner(1.0)
    assert sub.at <= d.at and 0.5 < sub.left() <= 1.0
    assert d.sooner(100.0).at == d.at  # a sub-step never outlives the attempt
    assert d.timeout(2.0) == 2.0 and d.timeout(100.0) <= 10.0
    gone = Deadline.after(0.0)
    assert gone.expired() and gone.left() == 0.0 and gone.timeout(5.0) == 0.3


def test_deadline_for_context_is_the_one_rule(make_ctx: MakeCtx) -> None:
    d = Deadline.for_context(make_ctx(timeout=20.0))
    assert d.total == pytest.approx(20.0 * GATHER_SHARE)
    assert d.left() <= 20.0 * GATHER_SHARE


def test_finding_builder_fills_the_common_fields() -> None:
    probe = StepProbe()
    facts = StepFacts(SERVICE)
    f = probe.unauthenticated(
        facts, "share", "share open", remediation="close", access=Access.READ,
        evidence={"x": 1}, listing=Listing(), encryption=Encryption.NONE,
    )  # fmt: skip
    assert (f.host, f.hostname, f.port, f.transport) == ("127.0.0.9", "box.lan", 4242,
                                                          Transport.UDP)
    assert (f.protocol, f.probe, f.kind) == ("steps", "steps", Kind.UNAUTHENTICATED_ACCESS)
    assert (f.resource, f.access, f.authentication, f.encryption) == (
        "share", Access.READ, Authentication.NONE, Encryption.NONE)
    assert f.evidence == {"x": 1} and f.listing == Listing() and f.remediation == "close"
    c = probe.cleartext(facts, "plain", remediation="tls", protocol="other",
                        authentication=Authentication.REQUIRED)
    assert (c.kind, c.protocol, c.encryption, c.authentication, c.resource) == (
        Kind.CLEARTEXT_TRANSPORT, "other", Encryption.NONE, Authentication.REQUIRED, None)


def test_typed_options_come_from_the_declarations(make_ctx: MakeCtx) -> None:
    probe = StepProbe()
    assert probe.option(make_ctx(), "count") == 3
    assert probe.option(make_ctx(), "names") == ("a", "b")
    ctx = make_ctx(options={"steps.count": "7", "steps.names": "x, y"})
    assert probe.option(ctx, "count") == 7 and probe.option(ctx, "names") == ["x", "y"]
    assert probe.option(make_ctx(options={"steps.count": "zero"}), "count") == 3
    assert probe.option(make_ctx(), "count", default=9) == 9
    assert probe.option(make_ctx(), "sample_files") == 3  # common options are declared too
    with pytest.raises(KeyError):
        probe.option(make_ctx(), "undeclared")


def test_samples_settings_follow_sample_bytes(make_ctx: MakeCtx) -> None:
    off = Samples.for_context(make_ctx(), "steps")
    assert not off.on and off.size == 0 and off.note is None
    small = Samples.for_context(make_ctx(sample_bytes=100), "steps")
    assert small.on and (small.size, small.files, small.note) == (100, 3, None)
    big = Samples.for_context(
        make_ctx(sample_bytes=10**6, options={"steps.sample_files": 5}), "steps", unit="object"
    )
    assert (big.size, big.files) == (MAX_SAMPLE_READ, 5)
    assert big.note == f"at most {MAX_SAMPLE_READ} bytes are read per object"


def test_samples_evidence_keys() -> None:
    empty = Samples(size=16, files=3)
    assert empty.evidence() == {"intrusive": ["sample-bytes"], "sample_bytes": 16,
                                "sampled_files": 0}
    s = Samples(size=16, files=3, note="n", requests=2, ranged={}, aborted=0)
    s.data["/a.wav"] = b"RIFF\x00\x00\x00\x00WAVEfmt "
    s.ranged = {"/a.wav": "honoured"}
    for i in range(6):
        s.errors[f"/e{i}"] = "HTTP 403"
    ev = s.evidence()
    assert ev["sampled_files"] == 1 and ev["sniffed"] == {"/a.wav": "wav"}
    assert ev["sample_requests"] == 2 and ev["sample_aborted"] == 0
    assert ev["sample_range"] == {"/a.wav": "honoured"} and ev["sample_note"] == "n"
    assert list(ev["sample_errors"]) == ["/e0", "/e1", "/e2", "/e3"]  # at most four
    # counters left None stay out of the evidence
    plain = Samples(size=16, files=3, data={"/a": b"x"}).evidence()
    assert not {"sample_requests", "sample_aborted", "sample_range"} & set(plain)


@pytest.mark.parametrize(
    "exc", [ConnectionRefusedError(), TimeoutError(), BrokenError("x"), OSError("y"),
            OutOfScopeError("192.0.2.1", 21)],
)
def test_probes_with_their_own_run_use_the_same_mapping(exc: Exception) -> None:
    r = result_for_exception(exc, protocol_errors=(BrokenError,), timeout_detail="slow")
    assert (r.status, r.detail) == status_for_exception(
        exc, protocol_errors=(BrokenError,), timeout_detail="slow")
    cut = StepProbe().cut_for(exc)
    if not isinstance(exc, TimeoutError):  # StepProbe has its own timeout detail
        assert (cut.status, cut.detail) == (r.status, r.detail)
