"""One module per protocol; each exposes ``PROBE`` and is registered under ``nasscan.probes``."""
