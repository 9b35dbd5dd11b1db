"""Comprehensive evaluations and spot-check draws as domain objects.

``evaluation`` statements (``creditlink.v1.Evaluation``, computed with
:mod:`creditlink.gateway.domain.evaluation` or by another evaluator) become objects of kind
``evaluation``: id ``evaluation_id``, subject the evaluated USCC (or person token), state
``CURRENT`` — or ``SUPERSEDED`` once a later evaluation names it in
``supersedes_evaluation_id``. A supersession must name an evaluation of the same subject that
is still current (``EVALUATION_NOT_FOUND``, ``EVALUATION_SUBJECT_MISMATCH``,
``EVALUATION_ALREADY_SUPERSEDED``), and an id is used once (``EVALUATION_EXISTS``).

``spot-check-draw`` statements (``creditlink.v1.SpotCheckDraw``, run and verifiable with
:mod:`creditlink.sdk.draw`) become objects of kind ``spot-check-draw``: id ``draw_id``, no
subject, state ``DRAWN``; a draw id is used once (``DRAW_EXISTS``). The gateway logs the draw as
signed; anyone re-runs it with ``verify_draw`` against the published candidate lists.

attrs — evaluation: ``scheme``, ``model_version``, ``grade``, ``score``, ``valid_from`` and
``valid_until`` (ISO dates, ``""`` when open), ``message_id``, ``supersedes``;
spot-check draw: ``task_name``, ``region_code``, ``sector``, ``algorithm``, ``selected``
(number of subjects drawn), ``seed_size`` (tree size of the seed checkpoint), ``message_id``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from creditlink.gateway.domain.projection import Logged, View
from creditlink.gateway.store.base import DomainEvent, DomainObject, ObjectKey
from creditlink.sdk.errors import AlreadyExists, FailedPrecondition, NotFound
from creditlink.v1 import common_pb2, statement_pb2

__all__ = ["DrawHandler", "EvaluationHandler", "evaluation_handlers"]

CURRENT = "CURRENT"
SUPERSEDED = "SUPERSEDED"
DRAWN = "DRAWN"


def _iso(date: common_pb2.Date) -> str:
    if not date.year:
        return ""
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}"


def _subject_key(subject: common_pb2.SubjectRef) -> str | None:
    return subject.uscc or subject.person_token or None


def _event(logged: Logged, kind: str, object_id: str, action: str, reason: str = "") -> DomainEvent:
    return logged.event(kind, object_id, action, reason)


class EvaluationHandler:
    """``evaluation`` statements (see the module docstring)."""

    kind = "evaluation"

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The evaluation itself and the one it supersedes, if any."""
        evaluation = statement.evaluation
        keys = [("evaluation", evaluation.evaluation_id)]
        if evaluation.supersedes_evaluation_id:
            keys.append(("evaluation", evaluation.supersedes_evaluation_id))
        return keys

    def apply(self, logged: Logged, view: View) -> None:
        """Store the evaluation as current; mark the one it supersedes."""
        evaluation = logged.statement.evaluation
        if view.get("evaluation", evaluation.evaluation_id) is not None:
            raise AlreadyExists(
                f"evaluation {evaluation.evaluation_id} exists", reason="EVALUATION_EXISTS"
            )
        subject = _subject_key(evaluation.subject)
        previous_id = evaluation.supersedes_evaluation_id
        if previous_id:
            previous = view.get("evaluation", previous_id)
            if previous is None:
                raise NotFound(
                    f"evaluation {previous_id} to supersede does not exist",
                    reason="EVALUATION_NOT_FOUND",
                )
            if previous.subject_key != subject:
                raise FailedPrecondition(
                    f"evaluation {previous_id} is about another subject",
                    reason="EVALUATION_SUBJECT_MISMATCH",
                )
            if previous.state != CURRENT:
                raise FailedPrecondition(
                    f"evaluation {previous_id} is already superseded",
                    reason="EVALUATION_ALREADY_SUPERSEDED",
                )
            view.put(
                dataclasses.replace(
                    previous, state=SUPERSEDED, leaf_index=logged.leaf_index, updated_at=logged.at
                )
            )
            view.event(
                _event(logged, "evaluation", previous_id, SUPERSEDED, evaluation.evaluation_id)
            )
        view.put(
            DomainObject(
                kind="evaluation",
                object_id=evaluation.evaluation_id,
                subject_key=subject,
                state=CURRENT,
                body=evaluation.SerializeToString(deterministic=True),
                attrs={
                    "scheme": evaluation.scheme,
                    "model_version": evaluation.model_version,
                    "grade": evaluation.grade,
                    "score": evaluation.score,
                    "valid_from": _iso(evaluation.valid_from),
                    "valid_until": _iso(evaluation.valid_until),
                    "message_id": logged.message_id,
                    "supersedes": previous_id,
                },
                flags=frozenset(),
                due_date=None,
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(_event(logged, "evaluation", evaluation.evaluation_id, "EVALUATED"))


class DrawHandler:
    """``spot-check-draw`` statements (see the module docstring)."""

    kind = "spot-check-draw"

    def reads(self, statement: statement_pb2.Statement) -> Iterable[ObjectKey]:
        """The draw itself (ids are used once)."""
        return [("spot-check-draw", statement.spot_check_draw.draw_id)]

    def apply(self, logged: Logged, view: View) -> None:
        """Store the draw."""
        draw = logged.statement.spot_check_draw
        if view.get("spot-check-draw", draw.draw_id) is not None:
            raise AlreadyExists(f"draw {draw.draw_id} exists", reason="DRAW_EXISTS")
        view.put(
            DomainObject(
                kind="spot-check-draw",
                object_id=draw.draw_id,
                subject_key=None,
                state=DRAWN,
                body=draw.SerializeToString(deterministic=True),
                attrs={
                    "task_name": draw.task_name,
                    "region_code": draw.region_code,
                    "sector": draw.sector,
                    "algorithm": draw.algorithm,
                    "selected": len(draw.selections),
                    "seed_size": draw.seed_checkpoint.size,
                    "message_id": logged.message_id,
                },
                flags=frozenset(),
                due_date=None,
                origin_node_id=logged.sender_node_id,
                log_origin=logged.log_origin,
                created_leaf=logged.leaf_index,
                leaf_index=logged.leaf_index,
                updated_at=logged.at,
            )
        )
        view.event(_event(logged, "spot-check-draw", draw.draw_id, DRAWN))


def evaluation_handlers() -> list[EvaluationHandler | DrawHandler]:
    """The handlers of this module."""
    return [EvaluationHandler(), DrawHandler()]
