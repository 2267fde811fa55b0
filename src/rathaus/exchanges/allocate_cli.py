"""File mode of `rathaus allocate daycare --input FILE --output FILE`, without Django.

The pure core needs no database, so this module imports nothing from Django: the console script
can call `main()` directly and skip Django's start-up (about a second), which matters for the
three-second target on 150,000 children. The management command uses the same function.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

INCLUDE_CHOICES = ("waiting_lists", "cutoffs", "lottery", "seed", "rounds", "declined")


class AllocationFileError(Exception):
    """A bad file or argument; the message says what to fix."""


@dataclass(frozen=True)
class FileSummary:
    assigned: int
    unassigned: int
    seconds: float
    output: Path
    # One line per facility the file names but does not define; its wishes were skipped.
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.assigned} children placed, {self.unassigned} without a place; "
                f"written to {self.output} in {self.seconds:.2f} s.")


def parse_include(value: str) -> list[str]:
    include = [part.strip() for part in value.split(",") if part.strip()]
    if unknown := sorted(set(include) - set(INCLUDE_CHOICES)):
        raise AllocationFileError(f"Unknown --include part {unknown[0]!r}; choose from {', '.join(INCLUDE_CHOICES)}.")
    return include


def run_daycare_file(source: str | Path, target: str | Path, include: Sequence[str] = (),
                     status: IO[str] | None = None) -> FileSummary:
    """Validate, allocate and write; every expected failure becomes an AllocationFileError.

    Wishes and priorities for facilities missing from the file are skipped, as the core skips
    them; the summary lists one warning per such facility (never the output file, which stays
    exactly the documented format).
    """
    from rathaus_domain.allocation.daycare import AllocationInputError, allocate_file

    source, target = Path(source), Path(target)
    if not source.is_file():
        raise AllocationFileError(f"Input file not found: {source}")
    if not target.parent.is_dir():
        raise AllocationFileError(f"Output directory does not exist: {target.parent}")
    started = time.perf_counter()
    warnings: list[str] = []
    try:
        with _spinner(status, f"Allocating places from {source.name} …"):
            out = allocate_file(source, target, include=list(include),
                                warn=lambda w: warnings.append(f"{source}: {w}"))
    except json.JSONDecodeError as exc:
        raise AllocationFileError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except UnicodeDecodeError:
        raise AllocationFileError(f"{source}: not UTF-8 text.") from None
    except AllocationInputError as exc:
        raise AllocationFileError(f"{source}: invalid input at {exc.path or '$'}: {exc.message}") from None
    except OSError as exc:
        raise AllocationFileError(f"Cannot read or write a file: {exc}") from None
    return FileSummary(len(out["assignments"]), len(out["unassigned"]), time.perf_counter() - started, target,
                       warnings)


def _spinner(stream: IO[str] | None, text: str):
    """A rich spinner on a terminal; nothing when output goes to a file or a test."""
    from contextlib import nullcontext

    if stream is None or not getattr(stream, "isatty", lambda: False)():
        return nullcontext()
    from rich.console import Console

    return Console(file=stream).status(text)


def main(argv: Sequence[str] | None = None) -> int:
    """`allocate daycare --input FILE --output FILE [--include parts]`; exit 0, 1 (bad input) or 2 (usage)."""
    parser = argparse.ArgumentParser(prog="rathaus allocate daycare", description="Allocate daycare places from a JSON file.")
    parser.add_argument("--input", required=True, help="input JSON file")
    parser.add_argument("--output", required=True, help="output JSON file")
    parser.add_argument("--include", default="", help=f"extra output parts, comma-separated: {', '.join(INCLUDE_CHOICES)}")
    args = parser.parse_args(argv)
    try:
        summary = run_daycare_file(args.input, args.output, parse_include(args.include), status=sys.stderr)
    except AllocationFileError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for warning in summary.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
