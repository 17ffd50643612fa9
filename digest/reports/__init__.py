"""What readers did with each edition: facts from the webhook's events, trends across editions,
and the list's hygiene. Every figure is a grouped query over indexed columns."""
