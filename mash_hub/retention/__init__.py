"""Retention: closed contacts past their agreements' periods, reviewed by a governance
lead, deleted by crypto-shredding (a tombstone stays) unless a legal hold stops it."""
