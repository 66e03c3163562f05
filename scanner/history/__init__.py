"""Scan history, deltas between scans, baselines and schedules."""
