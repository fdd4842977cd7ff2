"""Candidate search through blocking keys over generated people held in memory.

For each register size, generates fictional people (tests/unit/contacts/people_generator),
builds a dict from blocking key to row numbers (a stand-in for a database index on a
person_keys table), then times one search per query: the subject's `blocking_keys`, the
index look-ups, the union of rows, and `candidates` scoring every fetched person. Queries
are variants of register people (1-3 random changes; the NHS number dropped from 70%)
and, one in five, newcomers who are not in the register.

Each search is timed twice: "warm" (memoised name normalisations kept, as in a running
server) and "cold" (every memo cleared first, untimed). Reports median / p95 / max per
search, candidates fetched, recall and precision at the default threshold, and how the
median grows with the register.

    .venv/bin/python benchmarks/bench_matching.py [--sizes 10000,100000,1000000]
        [--queries N] [--seed S]

The default sizes take about 100 s and 1 GB of memory, most of it generating and indexing
the 1,000,000 people; `--sizes 10000,100000` runs in about 15 s.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.unit.contacts.people_generator

from mash_hub.contacts.matching import (  # noqa: E402
    DEFAULT_THRESHOLD,
    PersonRecord,
    blocking_keys,
    candidates,
    clear_caches,
)
from tests.unit.contacts.people_generator import PeopleGenerator  # noqa: E402


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def search(
    subject: PersonRecord, index: dict[str, list[int]], people: list[PersonRecord]
) -> tuple[list[tuple[PersonRecord, object]], int]:
    rows: set[int] = set()
    for key in blocking_keys(subject):
        rows.update(index.get(key, ()))
    found = candidates(subject, (people[r] for r in rows), DEFAULT_THRESHOLD)
    return list(found), len(rows)


def run(size: int, queries: int, seed: int) -> dict[str, float]:
    started = time.perf_counter()
    gen = PeopleGenerator(seed=seed)
    people = gen.people(size)
    generated = time.perf_counter()
    index: dict[str, list[int]] = defaultdict(list)
    for row, person in enumerate(people):
        for key in blocking_keys(person):
            index[key].append(row)
    indexed = time.perf_counter()
    largest = max(len(rows) for rows in index.values())

    rng = random.Random(seed + 1)  # noqa: S311 - picks test queries, nothing secret
    workload: list[tuple[PersonRecord, str | None]] = []
    for row in rng.sample(range(size), queries):
        workload.append((gen.variant(people[row]).record, people[row].id))
    for newcomer in gen.people(queries // 4):
        workload.append((newcomer, None))
    rng.shuffle(workload)

    timings: dict[str, list[float]] = {"warm": [], "cold": []}
    fetched: list[int] = []
    tp = fp = found_truth = with_truth = 0
    clear_caches()
    gc.collect()
    gc.disable()
    try:
        for mode in ("cold", "warm"):
            for subject, truth in workload:
                if mode == "cold":
                    clear_caches()
                begin = time.perf_counter_ns()
                found, count = search(subject, index, people)
                timings[mode].append((time.perf_counter_ns() - begin) / 1e6)
                if mode == "warm":
                    fetched.append(count)
                    hits = [p.id for p, _ in found]
                    if truth is not None:
                        with_truth += 1
                        found_truth += truth in hits
                    tp += sum(h == truth for h in hits)
                    fp += sum(h != truth for h in hits)
    finally:
        gc.enable()

    warm, cold = timings["warm"], timings["cold"]
    print(
        f"\n{size:>9,} people: generated in {generated - started:.1f} s, indexed in "
        f"{indexed - generated:.1f} s ({len(index):,} keys, largest block {largest:,} rows)"
    )
    for mode, values in (("warm", warm), ("cold", cold)):
        print(
            f"  {mode}: median {statistics.median(values):.3f} ms, "
            f"p95 {percentile(values, 0.95):.3f} ms, max {max(values):.3f} ms "
            f"per search ({len(values)} searches)"
        )
    print(
        f"  candidates fetched: median {statistics.median(fetched):.0f}, "
        f"p95 {percentile(fetched, 0.95):.0f}, max {max(fetched)}"
    )
    print(
        f"  at threshold {DEFAULT_THRESHOLD}: recall {found_truth / with_truth:.4f}, "
        f"precision {tp / (tp + fp) if tp + fp else 1.0:.4f} "
        f"({with_truth} queries with a true match, {len(workload) - with_truth} newcomers)"
    )
    return {
        "warm": statistics.median(warm),
        "cold": statistics.median(cold),
        "warm_p95": percentile(warm, 0.95),
        "cold_p95": percentile(cold, 0.95),
        "fetched": statistics.median(fetched),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated register sizes"
    )
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20260601)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    print(f"Python {sys.version.split()[0]}; threshold {DEFAULT_THRESHOLD}")
    results = {size: run(size, args.queries, args.seed) for size in sizes}

    base = sizes[0]
    print("\nGrowth of the median search time (and candidates fetched) against the first size:")
    for size in sizes:
        r, b = results[size], results[base]
        print(
            f"  {size:>9,}: warm {r['warm']:.3f} ms (x{r['warm'] / b['warm']:.2f}), "
            f"cold {r['cold']:.3f} ms (x{r['cold'] / b['cold']:.2f}), "
            f"p95 warm {r['warm_p95']:.3f} / cold {r['cold_p95']:.3f} ms, "
            f"fetched {r['fetched']:.0f} (x{r['fetched'] / max(b['fetched'], 1):.2f}); "
            f"register x{size / base:.0f}"
        )


if __name__ == "__main__":
    main()
