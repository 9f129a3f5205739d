"""The full config-fuzzer campaign: `python -m benchmarks.config_fuzz [--cases N] [--seed S]`.

Thousands of gradcheck.yml variants (tests/config_fuzzer.py says how they are made and judged), read by
`validate` under GitHub Actions. Prints the counts (cases tried, clean, failures by kind) and the first case
of each kind of failure, and exits 1 when there is any: every kind must stay at zero. The unit tests run a
fast sample of the same generator (tests/unit/test_config_fuzz.py).
"""
from __future__ import annotations

import argparse
import sys

from tests.config_fuzzer import campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000, help="variants to try (default: 3000)")
    parser.add_argument("--seed", type=int, default=1, help="the campaign's seed, to replay it (default: 1)")
    args = parser.parse_args(argv)
    tally = campaign(args.cases, args.seed)
    print(tally.report())
    for kind, example in sorted(tally.examples.items()):
        print(f"  first {kind}: {example}")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
