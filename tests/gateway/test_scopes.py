"""Scopes of statements (``gateway/scopes.py``): which authority codes a body carries are checked
and become ``authority:`` scopes, so scoped READ grants cover them."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlink.gateway.scopes import subject_and_scopes
from creditlink.sdk.errors import InvalidArgument
from creditlink.v1 import commitment_pb2
from tests.gateway.objection_statements import HZ_AMR, fulfilment_statement


def test_a_fulfilment_is_scoped_to_its_assessing_authority() -> None:
    statement = fulfilment_statement(
        "c-1", commitment_pb2.FULFILMENT_STATUS_FULFILLED, assessed=dt.date(2026, 3, 2)
    )
    _, scopes = subject_and_scopes(statement.commitment_fulfilment, "commitment-fulfilment")
    assert f"authority:{HZ_AMR}" in scopes


def test_an_invalid_assessing_authority_code_is_refused_by_name() -> None:
    statement = fulfilment_statement(
        "c-1",
        commitment_pb2.FULFILMENT_STATUS_FULFILLED,
        assessed=dt.date(2026, 3, 2),
        assessing=HZ_AMR[:-1] + ("0" if HZ_AMR[-1] != "0" else "1"),
    )
    with pytest.raises(InvalidArgument) as caught:
        subject_and_scopes(statement.commitment_fulfilment, "commitment-fulfilment")
    assert caught.value.reason == "INVALID_USCC"
    assert "commitment_fulfilment.assessing_authority.uscc" in str(caught.value)
