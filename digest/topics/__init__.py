"""Topics: the sections, tags and authors the journal's articles name, which readers follow."""
