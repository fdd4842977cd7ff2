"""Encryption: AES-256-GCM envelopes under keys derived from, or wrapped by, the master key."""
