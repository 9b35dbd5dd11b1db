"""Punishment measure lists: versions, the version in force, diffs, and which measures apply.

Pure functions over ``creditlink.v1`` messages (no store, no clock); the ``measure-list``
handler (``gateway/domain/handlers/measures.py``) and the services call them::

    seed = load_seed_2021()                                  # national-basic, version "2021.1"
    in_force = version_in_force(versions, date(2026, 3, 9))  # latest effective date <= the day
    changes = diff(older, newer)                             # added / removed / changed, by id
    applicable = measures_for(entry, USE_PURPOSE_GOVERNMENT_PROCUREMENT, in_force)

**Versions.** A measure list (``MeasureList.list_id``, e.g. ``national-basic``) is a chain of
versions: each names the version it replaces (``previous_version``; empty for the first) and is
in force from its ``effective_date`` until the next version's. The chain has no gaps and no
forks: a new version must name the latest one (checked by the handler, which keeps the chain's
head). Measure ids are stable across versions while a measure keeps its meaning, so a diff
matches measures by id.

**Which measures apply.** A name-list entry applies the measures it references
(``NameListEntry.measures``). A measure applies only while the version of its list in force
contains it ("no punishment outside the list"): :func:`measures_for` resolves an entry's
references against one version of one list (the one in force on the day checked) by list id and
measure id, then keeps the measures that apply for the purpose (``Measure.applies_in``: empty
means every purpose; a ``GENERAL`` check gets every measure) and to the target (the listed
subject itself, or a responsible person by role).

**The 2021 seed** (``data/measures-2021.json``, :func:`load_seed_2021`). The national basic list
of untrustworthiness punishment measures, 2021 edition (全国失信惩戒措施基础清单（2021年版）),
has 14 measures in 3 categories [checked: domain/credit-domain.md §4]. The official text could
not be consulted when the seed was written, so **every measure in it is SAMPLE data**: each is
marked ``"sample": true`` in the file and its published ``content`` ends with
:data:`SAMPLE_MARKER`, so nobody mistakes the signed list for the official one. The measures are
plausible ones that rest on real provisions (the Government Procurement Law art. 22, the
Administrative Licensing Law arts. 78-79, the Supreme People's Court's provisions restricting
high consumption...), but their wording, their split over the three categories (8/4/2 here),
their numbering and the purposes they apply in are the seed author's, not the list's. The
title, document number (发改财金规〔2021〕1827号) and effective date (2022-01-01) are
[believed]; so is the issuing authority's code. Replace the file's measures with the official
text (keeping ``measure_id`` stable) and drop the flags before publishing it anywhere real.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import Message

from creditlink.sdk.errors import FieldViolation, InvalidArgument
from creditlink.v1 import common_pb2, measure_pb2, name_list_pb2

__all__ = [
    "LIST_KIND",
    "NATIONAL_BASIC",
    "SAMPLE_MARKER",
    "SEED_2021_VERSION",
    "MeasureChange",
    "MeasureListDiff",
    "applies_for",
    "check_measure_list",
    "date_of",
    "diff",
    "list_object_id",
    "load_seed_2021",
    "measure_list_from_json",
    "measures_for",
    "sample_measure_ids",
    "split_object_id",
    "target_for_role",
    "version_in_force",
]

#: The statement kind (and domain object kind) of a measure list version.
LIST_KIND: Final = "measure-list"
#: ``list_id`` of the national basic list.
NATIONAL_BASIC: Final = "national-basic"
#: Version the 2021 seed is published as.
SEED_2021_VERSION: Final = "2021.1"
#: Appended to the ``content`` of every measure marked ``"sample": true`` in a JSON file.
SAMPLE_MARKER: Final = (
    "【示例数据，未与官方文本核对 / SAMPLE: not checked against the official text】"
)

_SEED_FILE: Final = "data/measures-2021.json"
_ROLE_TARGETS: Final[Mapping[int, int]] = {
    name_list_pb2.RESPONSIBLE_ROLE_LEGAL_REPRESENTATIVE: (
        measure_pb2.MEASURE_TARGET_LEGAL_REPRESENTATIVE
    ),
    name_list_pb2.RESPONSIBLE_ROLE_PRINCIPAL_RESPONSIBLE_PERSON: (
        measure_pb2.MEASURE_TARGET_PRINCIPAL_RESPONSIBLE_PERSON
    ),
    name_list_pb2.RESPONSIBLE_ROLE_DIRECTLY_RESPONSIBLE_PERSON: (
        measure_pb2.MEASURE_TARGET_DIRECTLY_RESPONSIBLE_PERSON
    ),
    name_list_pb2.RESPONSIBLE_ROLE_ACTUAL_CONTROLLER: measure_pb2.MEASURE_TARGET_ACTUAL_CONTROLLER,
}


def list_object_id(list_id: str, version: str) -> str:
    """The domain object id of one version: ``<list_id>@<version>``."""
    return f"{list_id}@{version}"


def split_object_id(object_id: str) -> tuple[str, str]:
    """``(list_id, version)`` of a ``<list_id>@<version>`` object id."""
    list_id, sep, version = object_id.partition("@")
    if not sep:
        raise ValueError(f"{object_id!r} is not <list_id>@<version>")
    return list_id, version


def date_of(value: common_pb2.Date, field: str) -> date:
    """``value`` as a date; ``InvalidArgument`` (``INVALID_DATE``) for a day the month lacks.

    The contract checks the ranges of year, month and day only (30 February passes it).
    """
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument(
            f"{field} is not a calendar date: {value.year}-{value.month}-{value.day}",
            reason="INVALID_DATE",
            field_violations=(FieldViolation(field, "no such day"),),
        ) from None


def check_measure_list(measure_list: measure_pb2.MeasureList, *, field: str = "") -> None:
    """What the contract cannot say about one version: a real effective date, unique ids.

    Raises ``InvalidArgument`` with ``INVALID_DATE`` or ``DUPLICATE_MEASURE_ID``.
    """
    prefix = f"{field}." if field else ""
    date_of(measure_list.effective_date, f"{prefix}effective_date")
    seen: set[str] = set()
    for index, measure in enumerate(measure_list.measures):
        if measure.measure_id in seen:
            raise InvalidArgument(
                f"measure id {measure.measure_id!r} appears twice in {measure_list.list_id}@"
                f"{measure_list.version}",
                reason="DUPLICATE_MEASURE_ID",
                field_violations=(
                    FieldViolation(f"{prefix}measures[{index}].measure_id", "already used"),
                ),
            )
        seen.add(measure.measure_id)


def version_in_force(
    versions: Iterable[measure_pb2.MeasureList], on: date
) -> measure_pb2.MeasureList | None:
    """The version with the latest effective date not after ``on`` (``None`` before the first).

    ``versions`` are versions of one list (the caller filters by ``list_id``).
    """
    best: measure_pb2.MeasureList | None = None
    best_date: date | None = None
    for version in versions:
        try:
            effective = date_of(version.effective_date, "effective_date")
        except InvalidArgument:
            continue  # never accepted by a handler; a bad mirror must not break a lookup
        if effective <= on and (best_date is None or effective > best_date):
            best, best_date = version, effective
    return best


# -- diff ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeasureChange:
    """A measure present in both versions whose fields differ."""

    measure_id: str
    before: measure_pb2.Measure
    after: measure_pb2.Measure
    #: ``Measure`` field names that differ, in field-number order (e.g. ``content``).
    changed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeasureListDiff:
    """What changed from one version of a list to another, measures matched by id."""

    added: tuple[measure_pb2.Measure, ...]
    removed: tuple[measure_pb2.Measure, ...]
    changed: tuple[MeasureChange, ...]


def _field_value(message: Message, name: str) -> object:
    value = getattr(message, name)
    # Repeated fields compare as lists (order matters: it is the published order).
    return list(value) if hasattr(value, "__len__") and not isinstance(value, str) else value


def _changed_fields(before: measure_pb2.Measure, after: measure_pb2.Measure) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in measure_pb2.Measure.DESCRIPTOR.fields
        if _field_value(before, f.name) != _field_value(after, f.name)
    )


def diff(older: measure_pb2.MeasureList, newer: measure_pb2.MeasureList) -> MeasureListDiff:
    """Measures only in ``newer`` (added), only in ``older`` (removed), and in both but with
    different fields (changed, with the field names); each in the order of its version."""
    before = {m.measure_id: m for m in older.measures}
    after = {m.measure_id: m for m in newer.measures}
    changed = []
    for measure in newer.measures:
        old = before.get(measure.measure_id)
        if old is None:
            continue
        fields = _changed_fields(old, measure)
        if fields:
            changed.append(MeasureChange(measure.measure_id, old, measure, fields))
    return MeasureListDiff(
        added=tuple(m for m in newer.measures if m.measure_id not in before),
        removed=tuple(m for m in older.measures if m.measure_id not in after),
        changed=tuple(changed),
    )


# -- which measures apply --------------------------------------------------------------------


def applies_for(measure: measure_pb2.Measure, purpose: int) -> bool:
    """Whether ``measure`` applies in a check for ``purpose`` (a ``UsePurpose`` value).

    A measure with no ``applies_in`` applies for every purpose; a ``GENERAL`` check asks for
    every measure (the contract: "every measure may apply").
    """
    return (
        not measure.applies_in
        or purpose == common_pb2.USE_PURPOSE_GENERAL
        or purpose in measure.applies_in
    )


def target_for_role(role: int) -> int | None:
    """The ``MeasureTarget`` a responsible person of ``role`` is (``None`` for OTHER roles)."""
    return _ROLE_TARGETS.get(role)


def measures_for(
    entry: name_list_pb2.NameListEntry,
    purpose: int,
    measure_list: measure_pb2.MeasureList,
    *,
    target: int = measure_pb2.MEASURE_TARGET_SUBJECT,
) -> list[tuple[measure_pb2.MeasureRef, measure_pb2.Measure]]:
    """The measures of ``measure_list`` that ``entry`` applies for ``purpose`` to ``target``.

    ``measure_list`` is the version of one list in force on the day checked; the entry's
    references into that list (any version) are matched by measure id, so a reference made
    under an earlier version follows the measure into the version in force, and a measure the
    version in force no longer has does not apply. ``target`` is who is checked: the listed
    subject (default) or a responsible person (:func:`target_for_role`). Returned in the order
    of the list, each with a reference to ``measure_list``'s version.
    """
    wanted = {r.measure_id for r in entry.measures if r.list_id == measure_list.list_id}
    return [
        (
            measure_pb2.MeasureRef(
                list_id=measure_list.list_id,
                version=measure_list.version,
                measure_id=measure.measure_id,
            ),
            measure,
        )
        for measure in measure_list.measures
        if measure.measure_id in wanted
        and target in measure.targets
        and applies_for(measure, purpose)
    ]


# -- JSON files and the 2021 seed ------------------------------------------------------------


def measure_list_from_json(data: str | bytes | Mapping[str, Any]) -> measure_pb2.MeasureList:
    """A ``MeasureList`` from JSON: its proto3 JSON form, optionally under ``"measure_list"``.

    Besides the message's own fields, each measure may carry ``"sample": true``: its
    ``content`` then ends with :data:`SAMPLE_MARKER` (the flag itself is not part of the
    contract). Keys starting with ``$`` at the top level are comments. Unknown fields raise
    ``ValueError``, as does an invalid date or a measure id used twice.
    """
    document: Any = json.loads(data) if isinstance(data, str | bytes) else dict(data)
    if not isinstance(document, dict):
        raise ValueError("a measure list file holds a JSON object")
    body = document.get("measure_list", document)
    if not isinstance(body, dict):
        raise ValueError('"measure_list" must be a JSON object')
    body = {k: v for k, v in body.items() if not k.startswith("$")}
    measures = body.get("measures", [])
    if not isinstance(measures, list):
        raise ValueError('"measures" must be a list')
    samples: list[bool] = []
    cleaned = []
    for measure in measures:
        if not isinstance(measure, dict):
            raise ValueError("each measure is a JSON object")
        measure = dict(measure)
        sample = measure.pop("sample", False)
        if not isinstance(sample, bool):
            raise ValueError('"sample" must be true or false')
        samples.append(sample)
        cleaned.append(measure)
    body["measures"] = cleaned
    out = measure_pb2.MeasureList()
    try:
        json_format.ParseDict(body, out)
    except json_format.ParseError as exc:
        raise ValueError(f"not a MeasureList: {exc}") from exc
    for measure, sample in zip(out.measures, samples, strict=True):
        if sample and not measure.content.endswith(SAMPLE_MARKER):
            measure.content = f"{measure.content}{SAMPLE_MARKER}"
    try:
        check_measure_list(out)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from exc
    return out


def load_seed_2021() -> measure_pb2.MeasureList:
    """The packaged 2021 national basic list (SAMPLE measures; see the module docstring)."""
    text = resources.files("creditlink.gateway.domain").joinpath(_SEED_FILE).read_text("utf-8")
    return measure_list_from_json(text)


def sample_measure_ids(measure_list: measure_pb2.MeasureList) -> Sequence[str]:
    """Ids of the measures whose content carries :data:`SAMPLE_MARKER`."""
    return [m.measure_id for m in measure_list.measures if m.content.endswith(SAMPLE_MARKER)]
