"""The nasscan lab: real misconfigured storage daemons (and secured twins) in a loopback-only
network namespace. See ``service.py`` for the service interface and ``cli.py`` for the commands."""
