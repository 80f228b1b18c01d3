"""CKMonitor faults as JSON (the on-site agent reports them to Odoo): round trip, and refusal of
anything else whatever the agent, or an attacker with its key, sends."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckfast import (
    CKFastProtocolError,
    CKMonitorTimeout,
    CKMonitorUnreachable,
    error_from_dict,
    error_to_dict,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@pytest.mark.parametrize("fault", [
    CKMonitorUnreachable("192.168.1.50", 16501, "connection refused"),
    CKMonitorTimeout("ck.local", 16501, 5.0),
    CKFastProtocolError(b"HELLO\xff\r\n", "unrecognised reply"),
])
def test_round_trip(fault):
    again = error_from_dict(error_to_dict(fault))
    assert type(again) is type(fault)
    assert str(again) == str(fault)


def test_other_errors_are_not_reportable():
    with pytest.raises(TypeError):
        error_to_dict(ValueError("x"))


@given(st.fixed_dictionaries({"kind": st.sampled_from(["unreachable", "timeout", "protocol", "other"])},
                             optional={"host": json_values, "port": json_values, "cause": json_values,
                                       "seconds": json_values, "raw": json_values, "reason": json_values}))
def test_anything_else_is_refused_with_value_error(data):
    try:
        fault = error_from_dict(data)
    except ValueError:
        return
    assert error_from_dict(error_to_dict(fault)).args == fault.args


@given(json_values)
def test_non_objects_are_refused(data):
    if isinstance(data, dict):
        return
    with pytest.raises(ValueError):
        error_from_dict(data)
