"""The full config-fuzzer campaign: `python -m benchmarks.config_fuzz [--cases N] [--seed S]`.

Thousands of gradcheck.yml variants (tests/config_fuzzer.py says how they are made and judged), read
by `validate` under GitHub Actions. Prints the counts (cases tried, clean, failures by kind) and the
first case of each kind of failure, and exits 1 when there is any: every kind must stay at zero. The
unit tests run a fast sample of the same generator (tests/unit/test_config_fuzz.py). `--check N`
also runs the real `check` on N variants that `validate` accepted: none may end in a configuration
or internal error there.
"""

from __future__ import annotations

import argparse
import sys

from tests.config_fuzzer import campaign, check_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000, help="variants to try (default: 3000)")
    parser.add_argument(
        "--seed", type=int, default=1, help="the campaign's seed, to replay it (default: 1)"
    )
    parser.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="N",
        help="also run the real `check` on N variants validate accepts (Theano; minutes)",
    )
    args = parser.parse_args(argv)
    tallies = [campaign(args.cases, args.seed)]
    if args.check:
        tallies.append(check_sample(args.check, args.seed))
    for tally in tallies:
        print(tally.report())
        for kind, example in sorted(tally.examples.items()):
            print(f"  first {kind}: {example}")
    return 1 if any(t.failures for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
