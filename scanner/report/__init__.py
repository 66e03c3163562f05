"""Output formats, all derived from the one ``Report`` model.

``json_report`` (one object and the jsonl stream), ``console`` (rich table, summary, progress),
``schema`` (the shipped JSON Schema); other formats (csv, sarif, html) sit next to them.
"""
