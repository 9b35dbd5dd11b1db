"""Bridges to systems that do not speak CXP: REST/JSON facade, publication-data import,
outbound webhooks and a SQL table poller (each arrives with its own issue)."""

__all__: list[str] = []
