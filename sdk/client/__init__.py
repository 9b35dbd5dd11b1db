"""Clients for a CXP gateway: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both are thin transports over one transport-free core (the googleapis pattern): the core builds
every request — statements completed, serialized once, signed (one signature per batch) and
sealed to the recipients' keys from the trust bundle — and verifies every answer before a
method returns it (receipts, checkpoints, log entries, inclusion and consistency proofs).
Errors are the :mod:`creditlink.sdk.errors` hierarchy, decoded from the gRPC status by
:func:`~creditlink.sdk.errors.from_grpc_error`. See ``docs/sdk.md``::

    from creditlink.sdk import Client

    with Client.from_credentials(".creditlink/operator") as client:
        receipt = client.submit(record)               # a CreditRecord, or a Statement
        for receipt in client.submit_records(records, progress=print):
            archive(receipt)
        with client.subscribe(["record"], cursor_store=SQLiteCursorStore("cursors.db")) as sub:
            for entry in sub:
                handle(entry.statement)
        for record in client.list_records(uscc, page_size=50):   # pages on its own
            ...
        check = client.check_subject(uscc, UsePurpose.BIDDING)  # listed? which measures?
        issued = client.issue_report(uscc, UsePurpose.BIDDING, authority_uscc=platform_uscc)
        Path("report.json").write_text(issued.bundle.to_json())

Domain objects come back with their provenance verified (:class:`Fetched`), writes with their
verified receipt (:class:`Written`), lists as pagers (:class:`Pager`, :class:`AsyncPager`).
"""

from creditlink.sdk.client._async import AsyncClient, AsyncSubscription
from creditlink.sdk.client._core import (
    DEFAULT,
    DEFAULT_CHANNEL_OPTIONS,
    METHOD_DEFAULTS,
    STATEMENT_KINDS,
    ClientCore,
    MethodDefaults,
    Retry,
    default_target,
)
from creditlink.sdk.client._cursor import CursorStore, SQLiteCursorStore
from creditlink.sdk.client._pager import AsyncPager, Page, Pager
from creditlink.sdk.client._sync import Client, Subscription
from creditlink.sdk.client._types import (
    ConsistencyProof,
    Entry,
    Fetched,
    InclusionProof,
    IssuedReport,
    MeasureListDiff,
    Provenance,
    Receipt,
    Recognition,
    RecordView,
    SubjectCheck,
    SubmitProgress,
    Written,
)

__all__ = [
    "DEFAULT",
    "DEFAULT_CHANNEL_OPTIONS",
    "METHOD_DEFAULTS",
    "STATEMENT_KINDS",
    "AsyncClient",
    "AsyncPager",
    "AsyncSubscription",
    "Client",
    "ClientCore",
    "ConsistencyProof",
    "CursorStore",
    "Entry",
    "Fetched",
    "InclusionProof",
    "IssuedReport",
    "MeasureListDiff",
    "MethodDefaults",
    "Page",
    "Pager",
    "Provenance",
    "Receipt",
    "Recognition",
    "RecordView",
    "Retry",
    "SQLiteCursorStore",
    "SubjectCheck",
    "SubmitProgress",
    "Subscription",
    "Written",
    "default_target",
]
