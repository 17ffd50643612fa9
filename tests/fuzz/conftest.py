"""Hypothesis profiles of the fuzz tests.

In the suite: a fixed budget of examples per target, derandomized (the same examples on every
run, so the suite is deterministic) and no example database, so no `.hypothesis` folder appears
in the checkout. DIGEST_FUZZ_EXAMPLES=N raises every target's budget to N; DIGEST_FUZZ_RANDOM=1
(scripts/fuzz sets both) draws new examples on every run and keeps the failing ones in
var/hypothesis, where the next run tries them first.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

REPO = Path(__file__).resolve().parents[2]

settings.register_profile(
    "digest-suite", derandomize=True, database=None, deadline=None, print_blob=True,
    # Examples that build a feed document or a CSV file are slow to generate by design.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "digest-fuzz", derandomize=False, database=DirectoryBasedExampleDatabase(REPO / "var" / "hypothesis"),
    deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("digest-fuzz" if os.environ.get("DIGEST_FUZZ_RANDOM") else "digest-suite")
