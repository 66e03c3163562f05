"""Alerts: new findings at or above a threshold are POSTed as JSON to a webhook.

The body carries a ``text`` field, so Slack and Teams incoming webhooks show it as is, plus the
findings themselves for machines, worst first. The first run of a job (nothing to compare
with) sends one summary by service instead (``summary_payload``). Retries with back-off and a
timeout; a failure is logged and returned, never raised: the scan is already recorded and must
not be lost to a webhook.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from scanner.masking import mask_data
from scanner.models import Finding, Severity, finding_order
from scanner.redact import redact_text, redact_webhook

log = logging.getLogger("nasscan.alerts")


def alert_payload(job: str, scan_id: str, findings: list[Finding]) -> dict[str, Any]:
    findings = sorted(findings, key=finding_order)  # worst first
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.INFO)
    lines = [f"nasscan job '{job}' (scan {scan_id}): {len(findings)} new finding(s), worst "
             f"{worst.value}"]
    lines += [f"- [{f.severity.value}] {f.host}:{f.port} {f.protocol}: {f.title}"
              for f in findings[:20]]
    if len(findings) > 20:
        lines.append(f"... and {len(findings) - 20} more")
    payload = {
        "text": "\n".join(lines),
        "job": job,
        "scan_id": scan_id,
        "findings": [f.model_dump(mode="json") for f in findings],
    }
    # personal data (identity and phone numbers) and secrets never leave in clear
    masked: dict[str, Any] = mask_data(payload)
    return masked


def summary_payload(job: str, scan_id: str, findings: list[Finding]) -> dict[str, Any]:
    """The first run's one message: counts, and one line per exposed service, worst first."""
    from scanner.report.console import exposed_services

    counts = {s.value: n for s in sorted(Severity, key=lambda s: -s.rank)
              if (n := sum(1 for f in findings if f.severity == s))}
    services = exposed_services(findings)
    lines = [f"nasscan job '{job}' (scan {scan_id}): first scan, {len(findings)} finding(s) ("
             + ", ".join(f"{n} {sev}" for sev, n in counts.items())
             + f") on {len({(f.host, f.port) for f in findings})} service(s); later runs "
             "alert on new findings only"]
    lines += [f"- [{sev.value}] {line}" for sev, line in services[:20]]
    if len(services) > 20:
        lines.append(f"... and {len(services) - 20} more services")
    payload = {
        "text": "\n".join(lines),
        "job": job,
        "scan_id": scan_id,
        "first_run": True,
        "counts": counts,
        "services": [{"severity": sev.value, "summary": line} for sev, line in services],
    }
    masked: dict[str, Any] = mask_data(payload)  # personal data and secrets never in clear
    return masked


def select_for_alert(findings: list[Finding], threshold: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= threshold.rank]


async def post_alert(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = 3,
    timeout: float = 10.0,
    backoff: float = 1.0,
) -> bool:
    """POST ``payload``; True once a 2xx answer came back, False after the last failure."""
    shown = redact_webhook(url)  # the webhook URL is itself a credential: never logged

    def clean(exc: BaseException) -> str:
        return redact_text(str(exc).replace(url, shown)) or type(exc).__name__

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        for attempt in range(1, attempts + 1):
            try:
                async with session.post(url, json=payload) as resp:
                    if 200 <= resp.status < 300:
                        return True
                    log.warning("alert to %s: HTTP %s (attempt %d/%d)", shown, resp.status,
                                attempt, attempts)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("alert to %s failed (attempt %d/%d): %s", shown, attempt, attempts,
                            clean(exc))
            if attempt < attempts:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
    log.error("alert to %s not delivered after %d attempts", shown, attempts)
    return False
