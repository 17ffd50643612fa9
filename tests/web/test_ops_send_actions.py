"""The ops page offers, for each send, only the actions its state allows (the command layer
would refuse the others), with the destructive ones styled apart."""

from __future__ import annotations

import pytest

from digest.web.ops import send_actions


def _send(status: str, held: bool = False, **counts) -> dict:
    return {"status": status, "held_at_provider": held, "deliveries": {"failed": 0, "unknown": 0, **counts}}


@pytest.mark.parametrize("send, offered", [
    (_send("sending"), ["pause", "cancel"]),
    (_send("paused"), ["resume", "cancel"]),
    (_send("sending", failed=2), ["pause", "cancel", "retry-failed", "discard-failed"]),
    (_send("sent"), []),
    (_send("sent", failed=2), []),  # failed rows of a finished send: nothing pending to retry into
    (_send("sent", held=True), ["cancel"]),  # SendGrid holds it until its time: still stoppable
    (_send("sent", unknown=3), ["resend-unknown"]),
    (_send("cancelled"), []),
])
def test_only_the_actions_that_apply_are_offered(send, offered):
    assert [action for action, _, _ in send_actions(send)] == offered


def test_labels_are_capitalised_and_destructive_actions_look_it():
    actions = send_actions(_send("paused", failed=1))
    assert all(label[0].isupper() for _, label, _ in actions)
    assert {action for action, _, style in actions if style == "danger"} == {"cancel", "discard-failed"}
