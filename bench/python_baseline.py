"""The original script's approach to one log file, for a side-by-side number: json.loads per line, the same
filter (category, Pull/Push, HttpStatusCode 200/201, time in the window), counts per (repository, digest).
Usage: python3 bench/python_baseline.py FILE"""
import json
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

path = sys.argv[1]
now = datetime(2026, 11, 27, 2, 0, 0, tzinfo=timezone.utc)
start = now - timedelta(days=7)
counts = Counter()
began = time.perf_counter()
cpu_began = time.process_time()
size = 0
with open(path, "rb") as handle:
    for line in handle:
        size += len(line)
        record = json.loads(line)
        if record.get("category") != "ContainerRegistryRepositoryEvents":
            continue
        if record.get("operationName") not in ("Pull", "Push"):
            continue
        if record.get("resultType") != "HttpStatusCode" or record.get("resultDescription") not in ("200", "201"):
            continue
        stamp = datetime.fromisoformat(record["time"][:26] + "+00:00")
        if stamp < start:
            continue
        properties = record.get("properties", {})
        counts[(properties.get("repository"), properties.get("digest"))] += 1
elapsed = time.perf_counter() - began
cpu = time.process_time() - cpu_began
print(f"python {sys.version.split()[0]} json.loads loop: {size / 1e6:.0f} MB in {elapsed:.2f} s = {size / 1e6 / elapsed:.0f} MB/s (CPU {cpu:.2f} s), {sum(counts.values())} accesses")
