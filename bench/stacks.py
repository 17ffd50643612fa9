"""Read py-spy's collapsed stacks ("frame;frame;frame count" lines) and print where the time went:
each function's own samples and the samples of everything it called, in percent of all samples.

    python bench/stacks.py var/bench/spy/worker0.txt [more files] [--top 30] [--match digest/]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "send_batch (digest/delivery/send.py:120)" -> "send_batch (digest/delivery/send.py)": lines differ
# within one function, and a function is what one reads and changes.
_LINE = re.compile(r":\d+\)$")


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    frames = [_LINE.sub(")", frame) for frame in stack.split(";") if not frame.startswith("process ")]
    return frames, int(count)


def tally(paths: list[Path]) -> tuple[Counter, Counter, int]:
    own, within, total = Counter(), Counter(), 0
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            frames, count = _frames(line)
            if not frames:
                continue
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                within[frame] += count
    return own, within, total


def print_top(paths: list[Path], top: int = 30, match: str = "") -> None:
    own, within, total = tally(paths)
    if not total:
        print("py-spy: no samples")
        return
    print(f"py-spy: {total:,} samples of the workers' busy threads")
    for title, counts in (("own time", own), ("with what it calls", within)):
        print(f"  top {top} by {title}:")
        shown = [(frame, n) for frame, n in counts.most_common() if match in frame][:top]
        for frame, n in shown:
            print(f"    {100 * n / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only frames whose text contains this")
    args = parser.parse_args()
    print_top(args.paths, args.top, args.match)


if __name__ == "__main__":
    main()
