"""Onward referrals: a family the MASH steps down to a receiving service (early help) once
an outcome is approved, and the service's acceptance or refusal."""
