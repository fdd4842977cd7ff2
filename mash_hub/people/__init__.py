"""The person register: who the hub already knows, matching on intake, links and merges."""
