"""`python -m rdo_envs [--literal]`: compute and print the reference-optimum table with rdo_gym.dp."""

import sys
import time

from rdo_envs.references import markdown_table, python_literal, reference_table

start = time.perf_counter()
table = reference_table()
elapsed = time.perf_counter() - start
print(markdown_table(table))
print(f"\n({len(table)} rows computed by rdo_gym.dp in {elapsed:.1f} s)")
if "--literal" in sys.argv[1:]:
    print(python_literal(table))
