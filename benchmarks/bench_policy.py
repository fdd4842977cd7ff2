"""Decision latency: `PolicyDecisionPoint.decide` beside a raw `cedarpy.is_authorized`.

Both run the same requests against the shipped policies/, interleaved in one run (each
iteration times every variant once, in shuffled order) so that machine noise falls on all
of them alike. The raw call gets the whole shipped policy set parsed once, the request as
a dict and the entities as a JSON string (what a straightforward caller would pass);
"raw, entities pre-parsed" also gets an `Entities` handle built outside the timed region,
the fastest a raw call can be.

    .venv/bin/python benchmarks/bench_policy.py [--iterations N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cedarpy

from mash_hub.policy import (
    Action,
    ContactResource,
    Context,
    ContributionResource,
    InfoRequestResource,
    PolicyDecisionPoint,
    Principal,
    Resource,
)

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
NOW = datetime(2026, 6, 1, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    name: str
    principal: Principal
    action: Action
    resource: Resource
    context: Context


CASES = (
    Case(
        "health researcher answers an open Amber request",
        Principal("user-7f3a", "user", "health", frozenset({"agency_researcher"})),
        Action.REQUEST_ANSWER,
        InfoRequestResource("req-91c2", "health", "open", NOW + timedelta(hours=4), "amber"),
        Context(now=NOW),
    ),
    Case(
        "police screener reads an open Red contact",
        Principal("user-2b81", "user", "police", frozenset({"screener"})),
        Action.CONTACT_READ,
        ContactResource("contact-5d0e", "red", "open"),
        Context(now=NOW),
    ),
    Case(
        "csc screener reads a restricted health contribution (denied)",
        Principal("user-c410", "user", "csc", frozenset({"screener"})),
        Action.CONTRIBUTION_READ,
        ContributionResource("contrib-77aa", "health", True, "red"),
        Context(now=NOW),
    ),
)


def raw_request(case: Case) -> tuple[dict[str, object], str]:
    """The same request as decide() builds, for a direct cedarpy call."""
    principal, resource = case.principal, case.resource
    request: dict[str, object] = {
        "principal": {"type": "Actor", "id": principal.id},
        "action": {"type": "Action", "id": case.action.value},
        "resource": {"type": resource.entity_type, "id": resource.id},
        "context": {
            "now": int(case.context.now.timestamp()),
            "break_glass": case.context.break_glass,
        },
    }
    entities = [
        {
            "uid": {"type": "Actor", "id": principal.id},
            "attrs": {
                "agency": principal.agency,
                "roles": sorted(principal.roles),
                "kind": principal.kind,
            },
            "parents": [],
        },
        json.loads(resource.entity_json()),
    ]
    return request, json.dumps(entities)


def measure(
    variants: dict[str, Callable[[], object]], iterations: int, seed: int
) -> dict[str, list[int]]:
    order = list(variants)
    rng = random.Random(seed)  # noqa: S311 - shuffles the timing order, nothing secret
    samples: dict[str, list[int]] = {name: [] for name in order}
    for _ in range(min(2000, iterations)):  # warm up
        for call in variants.values():
            call()
    gc.collect()
    gc.disable()
    try:
        clock = time.perf_counter_ns
        for _ in range(iterations):
            rng.shuffle(order)
            for name in order:
                call = variants[name]
                started = clock()
                call()
                samples[name].append(clock() - started)
    finally:
        gc.enable()
    return samples


def percentile(sorted_ns: list[int], fraction: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * fraction))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    pdp = PolicyDecisionPoint.from_dir(POLICIES_DIR)
    shipped = "\n".join(p.read_text(encoding="utf-8") for p in sorted(POLICIES_DIR.glob("*.cedar")))
    policy_set = cedarpy.PolicySet.from_str(shipped)
    print(
        f"cedarpy {importlib.metadata.version('cedarpy')}, {len(policy_set)} shipped policies,"
        f" {args.iterations} interleaved iterations per variant\n"
    )

    header = f"{'variant':34s} {'median us':>10s} {'p95 us':>8s} {'ratio':>7s}"
    for case in CASES:
        request, entities_json = raw_request(case)
        handle = cedarpy.Entities.from_json_str(entities_json)
        decision = pdp.decide(case.principal, case.action, case.resource, case.context)
        raw = cedarpy.is_authorized(request, policy_set, entities_json)
        assert decision.allowed == raw.allowed, (case.name, decision, raw.diagnostics.reasons)

        def run_decide(case: Case = case) -> object:
            return pdp.decide(case.principal, case.action, case.resource, case.context)

        def run_raw(request: dict[str, object] = request, entities: str = entities_json) -> object:
            return cedarpy.is_authorized(request, policy_set, entities)

        def run_raw_parsed(
            request: dict[str, object] = request, entities: cedarpy.Entities = handle
        ) -> object:
            return cedarpy.is_authorized(request, policy_set, entities)

        variants: dict[str, Callable[[], object]] = {
            "decide()": run_decide,
            "raw is_authorized": run_raw,
            "raw, entities pre-parsed": run_raw_parsed,
        }
        samples = measure(variants, args.iterations, args.seed)
        medians = {name: statistics.median(values) / 1000 for name, values in samples.items()}
        print(f"{case.name}: {'allow' if decision.allowed else 'deny'} ({decision.reason})")
        print(header)
        for name, values in samples.items():
            ordered = sorted(values)
            ratio = medians["decide()"] / medians[name]
            print(
                f"{name:34s} {medians[name]:10.1f} {percentile(ordered, 0.95):8.1f} {ratio:6.2f}x"
            )
        print()
    print("ratio = median of decide() / median of the variant")


if __name__ == "__main__":
    main()
