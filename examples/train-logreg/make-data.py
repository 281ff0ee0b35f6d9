#!/usr/bin/env python3
"""Writes a small, linearly separable-ish CSV for the example: make-data.py OUT.csv [ROWS]."""
import random
import sys

out, rows = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 500
random.seed(42)
with open(out, "w") as handle:
    handle.write("tenure,monthly_spend,support_calls,churned\n")
    for _ in range(rows):
        tenure, spend, calls = random.uniform(0, 1), random.uniform(0, 1), random.uniform(0, 1)
        churned = 1 if (0.8 * calls - 1.2 * tenure + 0.3 * spend + random.gauss(0, 0.15)) > -0.2 else 0
        handle.write(f"{tenure:.4f},{spend:.4f},{calls:.4f},{churned}\n")
