"""Delivery: plan an edition into send batches, each naming its readers; send each batch through a
backend; write a reader's delivery row when something happens to them (an event, a failure, a part
of a split request, an unknown outcome) or when reconciliation records a sent batch's readers."""
