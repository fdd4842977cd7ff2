"""The early-help programme criteria check at the front door (issue #15 item 3)."""
