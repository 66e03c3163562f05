"""Listing pages built in tests: an nginx autoindex page of any number of files."""

from __future__ import annotations


def nginx_autoindex(n: int, date: str = "14-Mar-2019 10:15") -> bytes:
    """nginx's autoindex of ``/`` with ``n`` empty files ``f000000.dat``... (CRLF lines, the
    column padding nginx writes), parent link first."""
    rows = "".join(f'<a href="f{i:06d}.dat">f{i:06d}.dat</a>{" " * 40}{date}'
                   f'{" " * 19}0\r\n' for i in range(n))  # fmt: skip
    return (
        "<html>\r\n<head><title>Index of /</title></head>\r\n<body>\r\n<h1>Index of /</h1><hr>"
        f'<pre><a href="../">../</a>\r\n{rows}</pre><hr></body>\r\n</html>\r\n'
    ).encode()
