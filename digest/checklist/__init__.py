"""The pre-send checklist of an edition: what an editor should know before approving it (size,
subject, articles, links, images, compliance, spam score), and the approval that heeds it."""
