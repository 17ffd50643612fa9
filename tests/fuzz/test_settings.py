"""Settings from the environment, each set to anything an operator might type (or paste): the
service starts with it, or refuses to with ConfigError naming the setting. Never another error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config import ConfigError, Settings, get_settings
from tests.fuzz.strategies import budget

# What an environment variable can hold: any text but NUL (and no lone surrogate).
env_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)
values = st.one_of(
    env_text,
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "true", "no", "1e400", "-0", "0x10", "[]", "[1]", '["a", 1]', "{}", "null",
                     '[{"daily": 5000, "hourly": 0}]', '[{"daily": "x"}]', "2026-02-30", "2026-01-07",
                     "25:00", "09:00", "2027-03-01T00:00", "2027-03-01T00:00Z", "UTC", "Mars/Olympus",
                     "../../etc/passwd", "sendgrid", "memory", "postgresql://", "redis://", "http://[::1",
                     "https://example.org", "a@b", "10.0.0.0/33", "json", "[" * 2000]),
)


@settings(max_examples=budget(400))
@given(st.sampled_from(sorted(Settings.model_fields)), values)
def test_a_setting_is_taken_or_refused_by_name(name, value):
    with pytest.MonkeyPatch.context() as env:
        env.setenv(name, value)
        get_settings.cache_clear()
        try:
            get_settings()
        except ConfigError as exc:
            assert name in str(exc), f"{name}={value!r}: {exc}"
        finally:
            get_settings.cache_clear()
