"""The audit trail: an event for every decision on protected data, allow and deny."""
