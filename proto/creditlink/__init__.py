"""creditlink: gateway, SDK and conformance suite for the Credit Exchange Protocol (CXP) v1.

The import namespace gathers the repository's top-level folders:

- ``creditlink.v1`` — the contracts (generated from ``proto/creditlink/v1/*.proto``)
- ``creditlink.sdk`` — everything a participant needs to speak CXP
- ``creditlink.gateway`` — the node (server)
- ``creditlink.adapters`` — bridges to systems that do not speak CXP
- ``creditlink.conformance`` — requirement registry, vectors and live profiles
- ``creditlink.cli`` — the ``creditlink`` command
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("creditlink")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
    __version__ = "0+unknown"

__all__ = ["__version__"]
