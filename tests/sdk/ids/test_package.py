"""The flat names and the discovery helper of creditlink.sdk.ids."""

from __future__ import annotations

import importlib
import pkgutil

import creditlink.sdk.ids as ids


def test_identifier_modules_lists_every_public_module() -> None:
    public = {
        f"{ids.__name__}.{info.name}"
        for info in pkgutil.iter_modules(ids.__path__)
        if not info.name.startswith("_")
    }
    listed = {module.__name__ for module in ids.identifier_modules()}
    assert listed == public - {f"{ids.__name__}.exceptions"}


def test_every_module_has_the_interface_and_docstrings() -> None:
    for module in ids.identifier_modules():
        for name in ("compact", "validate", "is_valid", "format"):
            function = getattr(module, name)
            assert callable(function), (module.__name__, name)
            assert function.__doc__, (module.__name__, name)
        assert module.__doc__
        assert "References" in module.__doc__
        assert ">>> " in module.__doc__


def test_all_public_functions_have_docstrings() -> None:
    for info in pkgutil.iter_modules(ids.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{ids.__name__}.{info.name}")
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name}"


def test_flat_names() -> None:
    assert ids.validate_uscc is ids.uscc.validate
    assert ids.is_valid_uscc is ids.uscc.is_valid
    assert ids.validate_resident_id is ids.resident_id.validate
    assert ids.is_valid_resident_id is ids.resident_id.is_valid
    assert ids.validate_region_code is ids.region.validate
    assert ids.is_valid_region_code is ids.region.is_valid
    assert ids.validate_org_code is ids.org_code.validate
    assert ids.is_valid_org_code is ids.org_code.is_valid
    assert ids.validate_node_id is ids.node_id.validate
    assert ids.is_valid_node_id is ids.node_id.is_valid
    assert ids.validate_report_no is ids.report_no.validate
    assert ids.is_valid_report_no is ids.report_no.is_valid
    for name in ids.__all__:
        assert hasattr(ids, name), name


def test_reasons() -> None:
    assert {
        module.__name__.rsplit(".", 1)[1]: module.REASON
        for module in (
            ids.uscc,
            ids.resident_id,
            ids.region,
            ids.node_id,
            ids.org_code,
            ids.report_no,
        )
    } == {
        "uscc": "INVALID_USCC",
        "resident_id": "INVALID_RESIDENT_ID",
        "region": "INVALID_REGION_CODE",
        "node_id": "INVALID_NODE_ID",
        "org_code": "INVALID_ORG_CODE",
        "report_no": "INVALID_REPORT_NO",
    }
