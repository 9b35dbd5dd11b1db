"""DSSE v1 Pre-Authentication Encoding (secure-systems-lab/dsse ``protocol.md``).

Hazmat: callers sign and verify through :mod:`creditlink.sdk.envelope`; this module only builds
the exact bytes a DSSE signature covers (docs/spec/envelope.md, CXP-ENV-001).
"""

from __future__ import annotations

__all__ = ["PAE_PREFIX", "pae"]

#: The literal that opens every PAE string.
PAE_PREFIX = b"DSSEv1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``.

    ``type`` is ``payload_type`` encoded as UTF-8; ``LEN`` is the byte length as ASCII decimal
    without leading zeros; ``SP`` is one 0x20 byte. ``payload`` is used exactly as given.

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
    >>> pae("t", b"")
    b'DSSEv1 1 t 0 '
    """
    type_bytes = payload_type.encode("utf-8")
    # One join: this runs once per signature check, on the verify hot path.
    return b" ".join(
        (
            PAE_PREFIX,
            str(len(type_bytes)).encode("ascii"),
            type_bytes,
            str(len(payload)).encode("ascii"),
            payload,
        )
    )
