"""Compare groups of training runs on forecast error: summaries, significance tests, multiple-testing control."""
