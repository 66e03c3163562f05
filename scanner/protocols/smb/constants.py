"""SMB2/3 numbers as enums (MS-SMB2 section 2.2), and the bounds this package keeps."""

from __future__ import annotations

from enum import IntEnum, IntFlag

MAX_MESSAGE = 1 << 20
"""Largest SMB message we accept (1 MiB); the server may not make us buffer more."""
MAX_READ_LENGTH = 64 * 1024
"""The most one ``read_head`` asks for (one credit; every server's MaxReadSize allows it)."""

SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"
SMB2_TRANSFORM_MAGIC = b"\xfdSMB"


class Command(IntEnum):
    NEGOTIATE = 0x0000
    SESSION_SETUP = 0x0001
    LOGOFF = 0x0002
    TREE_CONNECT = 0x0003
    TREE_DISCONNECT = 0x0004
    CREATE = 0x0005
    CLOSE = 0x0006
    READ = 0x0008
    QUERY_DIRECTORY = 0x000E


class HeaderFlags(IntFlag):
    RESPONSE = 0x00000001
    ASYNC = 0x00000002


class Dialect(IntEnum):
    SMB_2_0_2 = 0x0202
    SMB_2_1 = 0x0210
    SMB_3_0 = 0x0300
    SMB_3_0_2 = 0x0302
    SMB_3_1_1 = 0x0311
    WILDCARD = 0x02FF
    """``2.???``: the answer to a multi-protocol SMB1 negotiate, never a dialect in use."""


DIALECT_NAMES: dict[int, str] = {
    Dialect.SMB_2_0_2: "2.0.2",
    Dialect.SMB_2_1: "2.1",
    Dialect.SMB_3_0: "3.0",
    Dialect.SMB_3_0_2: "3.0.2",
    Dialect.SMB_3_1_1: "3.1.1",
}
ALL_DIALECTS: tuple[int, ...] = (
    Dialect.SMB_2_0_2,
    Dialect.SMB_2_1,
    Dialect.SMB_3_0,
    Dialect.SMB_3_0_2,
    Dialect.SMB_3_1_1,
)


def dialect_name(dialect: int) -> str:
    return DIALECT_NAMES.get(dialect, f"0x{dialect:04x}")


class SecurityMode(IntFlag):
    SIGNING_ENABLED = 0x0001
    SIGNING_REQUIRED = 0x0002


class Capabilities(IntFlag):
    DFS = 0x01
    LEASING = 0x02
    LARGE_MTU = 0x04
    MULTI_CHANNEL = 0x08
    PERSISTENT_HANDLES = 0x10
    DIRECTORY_LEASING = 0x20
    ENCRYPTION = 0x40


class NegotiateContext(IntEnum):
    PREAUTH_INTEGRITY = 0x0001
    ENCRYPTION = 0x0002
    SIGNING = 0x0008


class HashAlgorithm(IntEnum):
    SHA_512 = 0x0001


class Cipher(IntEnum):
    AES_128_CCM = 0x0001
    AES_128_GCM = 0x0002
    AES_256_CCM = 0x0003
    AES_256_GCM = 0x0004


CIPHER_NAMES: dict[int, str] = {
    Cipher.AES_128_CCM: "AES-128-CCM",
    Cipher.AES_128_GCM: "AES-128-GCM",
    Cipher.AES_256_CCM: "AES-256-CCM",
    Cipher.AES_256_GCM: "AES-256-GCM",
}


def cipher_name(cipher: int) -> str:
    return CIPHER_NAMES.get(cipher, f"0x{cipher:04x}")


class SigningAlgorithm(IntEnum):
    HMAC_SHA256 = 0x0000
    AES_CMAC = 0x0001
    AES_GMAC = 0x0002


class SessionFlags(IntFlag):
    IS_GUEST = 0x0001
    IS_NULL = 0x0002
    ENCRYPT_DATA = 0x0004


class ShareType(IntEnum):
    DISK = 0x01
    PIPE = 0x02
    PRINT = 0x03


class ShareFlags(IntFlag):
    ENCRYPT_DATA = 0x00008000


class NtStatus(IntEnum):
    """The NT status codes this package names; any other stays a number (``status_name``)."""

    SUCCESS = 0x00000000
    PENDING = 0x00000103
    NO_MORE_FILES = 0x80000006
    MORE_PROCESSING_REQUIRED = 0xC0000016
    ACCESS_DENIED = 0xC0000022
    LOGON_FAILURE = 0xC000006D
    BAD_NETWORK_NAME = 0xC00000CC
    NOT_SUPPORTED = 0xC00000BB
    END_OF_FILE = 0xC0000011
    SHARING_VIOLATION = 0xC0000043
    OBJECT_NAME_INVALID = 0xC0000033
    OBJECT_NAME_NOT_FOUND = 0xC0000034
    LOGON_TYPE_NOT_GRANTED = 0xC000015B
    ACCOUNT_DISABLED = 0xC0000072
    USER_SESSION_DELETED = 0xC0000203
    INVALID_PARAMETER = 0xC000000D
    INVALID_DEVICE_REQUEST = 0xC0000010
    NOT_A_DIRECTORY = 0xC0000103


_STATUS_NAMES = {s.value: f"STATUS_{s.name}" for s in NtStatus}


def status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"0x{status:08X}")


class AccessMask(IntFlag):
    """Access mask bits (MS-SMB2 2.2.13.1; directory meaning where it differs)."""

    FILE_READ_DATA = 0x00000001  # FILE_LIST_DIRECTORY on a directory
    FILE_ADD_FILE = 0x00000002
    FILE_ADD_SUBDIRECTORY = 0x00000004
    FILE_READ_EA = 0x00000008
    FILE_WRITE_EA = 0x00000010
    FILE_DELETE_CHILD = 0x00000040
    FILE_READ_ATTRIBUTES = 0x00000080
    FILE_WRITE_ATTRIBUTES = 0x00000100
    DELETE = 0x00010000
    WRITE_DAC = 0x00040000
    WRITE_OWNER = 0x00080000
    SYNCHRONIZE = 0x00100000
    GENERIC_ALL = 0x10000000
    GENERIC_WRITE = 0x40000000

    FILE_LIST_DIRECTORY = 0x00000001


WRITE_BITS = (
    AccessMask.FILE_ADD_FILE
    | AccessMask.FILE_ADD_SUBDIRECTORY
    | AccessMask.FILE_DELETE_CHILD
    | AccessMask.DELETE
    | AccessMask.WRITE_DAC
    | AccessMask.WRITE_OWNER
    | AccessMask.GENERIC_ALL
    | AccessMask.GENERIC_WRITE
)
"""Any of these in the maximal access of a share's root means an anonymous user may change it."""


class FileAttributes(IntFlag):
    DIRECTORY = 0x10
    REPARSE_POINT = 0x400


class FileInformationClass(IntEnum):
    FILE_DIRECTORY_INFORMATION = 0x01


class CreateOptions(IntFlag):
    FILE_DIRECTORY_FILE = 0x00000001
    FILE_NON_DIRECTORY_FILE = 0x00000040


class ShareAccess(IntFlag):
    READ = 0x00000001
    WRITE = 0x00000002
    DELETE = 0x00000004
    ALL = 0x00000007


class CreateDisposition(IntEnum):
    FILE_OPEN = 1
    """Open an existing file or directory; never create."""


class ImpersonationLevel(IntEnum):
    IMPERSONATION = 2
