"""Measure lists: each ``measure-list`` statement publishes one version of one list.

A list's versions form a chain without gaps or forks (``gateway/domain/measures``): the first
version names no previous version, every later one names the latest version of its list, and
takes effect after it. The handler refuses:

* a version already published for the list (``MEASURE_LIST_VERSION_EXISTS``);
* a ``previous_version`` that is not the list's latest version, or none where the list has
  versions, or one where it has none (``MEASURE_LIST_VERSION_GAP``);
* an effective date not after the previous version's (``MEASURE_LIST_DATE_ORDER``);
* an impossible effective date (``INVALID_DATE``) or a measure id used twice
  (``DUPLICATE_MEASURE_ID``).

**Objects**:

``measure-list`` / ``<list_id>@<version>``
    ``subject_key`` the ``list_id`` (so the versions of a list are one subject query away, as
    in the feed); ``state`` ``PUBLISHED`` (which version is in force depends on the day asked
    about, so it is derived at read time); ``body`` the ``MeasureList`` as signed; ``attrs``:
    ``list_id``, ``version``, ``effective_date`` (ISO), ``previous_version``, ``next_version``
    (``""`` until a later version names this one), ``region_code``, ``measures`` (count),
    ``sample`` (ids of the measures marked as sample data).

``measure-list-head`` / ``<list_id>``
    The chain's head, so a new version is checked with two key lookups: ``state``
    ``PUBLISHED``, ``subject_key`` ``None``, ``attrs``: ``latest_version``,
    ``latest_effective_date``, ``versions`` (count).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from creditlink.gateway.domain.measures import (
    LIST_KIND,
    check_measure_list,
    date_of,
    list_object_id,
    sample_measure_ids,
)
from creditlink.gateway.domain.projection import Handler, Logged, View
from creditlink.gateway.store.base import DomainEvent, DomainObject, ObjectKey
from creditlink.sdk.errors import AlreadyExists, FailedPrecondition
from creditlink.v1 import common_pb2, statement_pb2

__all__ = ["HEAD_KIND", "PUBLISHED", "MeasureListHandler", "measure_handlers"]

#: Kind of the per-list head object.
HEAD_KIND: Final = "measure-list-head"
#: The state of every published version.
PUBLISHED: Final = "PUBLISHED"


def _iso(value: common_pb2.Date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _gap(message: str) -> FailedPrecondition:
    return FailedPrecondition(message, reason="MEASURE_LIST_VERSION_GAP")


class MeasureListHandler:
    """``measure-list``: one new version at the head of its list's chain."""

    kind = LIST_KIND

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The version itself, the list's head, and the version it names as previous."""
        lst = statement.measure_list
        keys = [(LIST_KIND, list_object_id(lst.list_id, lst.version)), (HEAD_KIND, lst.list_id)]
        if lst.previous_version:
            keys.append((LIST_KIND, list_object_id(lst.list_id, lst.previous_version)))
        return keys

    def apply(self, logged: Logged, view: View) -> None:
        """Check the chain, then write the version, the head, and the previous version's link."""
        lst = logged.statement.measure_list
        check_measure_list(lst, field="measure_list")
        object_id = list_object_id(lst.list_id, lst.version)
        if view.get(LIST_KIND, object_id) is not None:
            raise AlreadyExists(
                f"{lst.list_id} has a version {lst.version} already",
                reason="MEASURE_LIST_VERSION_EXISTS",
            )
        head = view.get(HEAD_KIND, lst.list_id)
        previous: DomainObject | None = None
        if head is None:
            if lst.previous_version:
                raise _gap(
                    f"{lst.list_id} has no versions; its first version names no previous one"
                )
        else:
            latest = str(head.attrs["latest_version"])
            if lst.previous_version != latest:
                raise _gap(
                    f"the latest version of {lst.list_id} is {latest}; a new version must name "
                    f"it as previous_version, not {lst.previous_version or '(none)'}"
                )
            previous = view.get(LIST_KIND, list_object_id(lst.list_id, latest))
            if previous is None:  # the head names it: the store lost a row
                raise RuntimeError(f"{lst.list_id}@{latest} is the head but is not stored")
            effective = date_of(lst.effective_date, "measure_list.effective_date").isoformat()
            if effective <= str(previous.attrs["effective_date"]):
                raise FailedPrecondition(
                    f"{lst.list_id}@{lst.version} takes effect on {effective}, not after "
                    f"{latest} ({previous.attrs['effective_date']})",
                    reason="MEASURE_LIST_DATE_ORDER",
                )
        created = DomainObject(
            kind=LIST_KIND,
            object_id=object_id,
            subject_key=lst.list_id,
            state=PUBLISHED,
            body=lst.SerializeToString(deterministic=True),
            attrs={
                "list_id": lst.list_id,
                "version": lst.version,
                "effective_date": _iso(lst.effective_date),
                "previous_version": lst.previous_version,
                "next_version": "",
                "region_code": lst.region_code,
                "measures": len(lst.measures),
                "sample": list(sample_measure_ids(lst)),
            },
            flags=frozenset(),
            due_date=None,
            origin_node_id=logged.sender_node_id,
            log_origin=logged.log_origin,
            created_leaf=logged.leaf_index,
            leaf_index=logged.leaf_index,
            updated_at=logged.at,
        )
        view.put(created)
        view.event(self._event(created, logged, "PUBLISHED", lst.title))
        if previous is not None:
            linked = _replace_attrs(previous, logged, next_version=lst.version)
            view.put(linked)
            view.event(self._event(linked, logged, "SUPERSEDED", f"next version {lst.version}"))
        count = 1 if head is None else int(str(head.attrs["versions"])) + 1
        view.put(
            DomainObject(
                kind=HEAD_KIND,
                object_id=lst.list_id,
                subject_key=None,
                state=PUBLISHED,
                body=b"",
                attrs={
                    "latest_version": lst.version,
                    "latest_effective_date": _iso(lst.effective_date),
                    "versions": count,
                },
                flags=frozenset(),
                due_date=None,
                origin_node_id=logged.sender_node_id if head is None else head.origin_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index if head is None else head.created_leaf,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )

    @staticmethod
    def _event(obj: DomainObject, logged: Logged, action: str, reason: str) -> DomainEvent:
        return logged.event(obj.kind, obj.object_id, action, reason)


def _replace_attrs(obj: DomainObject, logged: Logged, **changes: object) -> DomainObject:
    attrs = {**obj.attrs, **changes}
    return DomainObject(
        kind=obj.kind,
        object_id=obj.object_id,
        subject_key=obj.subject_key,
        state=obj.state,
        body=obj.body,
        attrs=attrs,
        flags=obj.flags,
        due_date=obj.due_date,
        origin_node_id=obj.origin_node_id,
        log_origin=obj.log_origin,
        created_leaf=obj.created_leaf,
        leaf_index=logged.leaf_index,
        updated_at=logged.at,
    )


def measure_handlers() -> list[Handler]:
    """The handlers of this module, for ``default_handlers()``."""
    return [MeasureListHandler()]
