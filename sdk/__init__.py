"""Everything a participant needs to speak CXP v1.

Identifiers (:mod:`creditlink.sdk.ids`), DSSE envelopes, batch signatures, HPKE sealing, keys,
the federation trust bundle and the transparency-log library (:mod:`creditlink.sdk.tlog`).
The SDK never imports the gateway.
"""

from creditlink.sdk.errors import CreditlinkError

__all__ = ["CreditlinkError"]
