"""Where the one published sample of each Places image falls among ours.

bench/places.py scores 10 samples per image and keeps each sample's SIFID in its JSON rows
(`ours.sifid_values`); the published rows are one sample each. This pools every sample of the
result files given (for example the two seeds of one recipe) per image and prints, per image, our
mean, median and best SIFID, the published ConSinGAN sample's, and how many of ours are below it.

    python bench/sample_spread.py /work/bench17/c32d2c128f1000-250/places-*.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="places.py JSON result files")
    args = p.parse_args(argv)
    ours: dict[str, list[float]] = defaultdict(list)
    published: dict[str, float] = {}
    for path in args.results:
        try:
            with open(path, encoding="utf-8") as f:
                rows = json.load(f)["rows"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
            continue
        for row in rows:
            values = (row.get("ours") or {}).get("sifid_values")
            if values:
                ours[row["image"]].extend(float(v) for v in values)
            pub = (row.get("consingan") or {}).get("sifid")
            if pub is not None:
                published[row["image"]] = float(pub)
    if not ours:
        print("no per-sample SIFID values in these files", file=sys.stderr)
        return 1
    print("| image | samples | ours: mean / median / best | published ConSinGAN | ours below it |")
    print("|---|---|---|---|---|")
    means, medians, bests = [], [], []
    for image in sorted(ours):
        v = sorted(ours[image])
        pub = published.get(image)
        below = "" if pub is None else str(sum(x < pub for x in v))
        means.append(statistics.fmean(v))
        medians.append(statistics.median(v))
        bests.append(v[0])
        print(f"| {image} | {len(v)} | {means[-1]:.3f} / {medians[-1]:.3f} / {v[0]:.3f} | "
              f"{'' if pub is None else f'{pub:.3f}'} | {below} |")
    pubs = [published[i] for i in sorted(ours) if i in published]
    pub_mean = f"{statistics.fmean(pubs):.3f}" if pubs else ""
    print(f"| **mean** | | {statistics.fmean(means):.3f} / {statistics.fmean(medians):.3f} / "
          f"{statistics.fmean(bests):.3f} | {pub_mean} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
