"""The models (models.py): ``TagPolicy`` columns accept exactly what ``PolicyRule`` accepts."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from byo_sessions.core.policy import IpChangeAction, LimitAction, UaChangeAction
from byo_sessions.models import TagPolicy

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "field,kind",
    [
        ("on_ip_address_change", IpChangeAction),
        ("on_user_agent_change", UaChangeAction),
        ("on_session_limit_exceeded", LimitAction),
    ],
)
def test_model_choices_are_exactly_the_policy_actions(field, kind):
    assert [value for value, _ in TagPolicy._meta.get_field(field).choices] == [m.value for m in kind]


def test_model_validators_refuse_what_policy_rule_refuses():
    row = TagPolicy(selector="org:acme", priority=5_000_000, absolute_lifetime_secs=0, ip_allowlist=["10.0.0.1/24"])
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert set(info.value.message_dict) == {"priority", "absolute_lifetime_secs", "ip_allowlist"}
    assert "lower wins" in info.value.message_dict["priority"][0]
    TagPolicy(selector="org:*", priority=-1_000_000, description="x" * 300, absolute_lifetime_secs=60).full_clean()
