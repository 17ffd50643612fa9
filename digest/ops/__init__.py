"""Operations: queue, worker, task, beat, feed, send and dependency health, gathered once for the
ops page, `GET /api/ops/status`, `digest ops status` and `/metrics`; and operators' actions."""
