"""The p99 of a cairn-bench JSON result's total (phases of ops), in ms.
A run with failed requests has no p99 worth quoting (a 404 is far cheaper
than a GET): it is refused with a line on stderr.

    python3 perf/p99.py RESULT.json   prints it (nothing if absent or refused)
"""
import json
import sys


def p99(path):
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None

    def find(v):
        if isinstance(v, dict):
            if "total" in v and "latency_ms" in v["total"]:
                errors = v["total"].get("errors")
                if errors:
                    print(f"{path}: failed requests {errors}: no p99", file=sys.stderr)
                    return None
                return v["total"]["latency_ms"]["p99"]
            v = list(v.values())
        if isinstance(v, list):
            for x in v:
                r = find(x)
                if r is not None:
                    return r
        return None

    return find(d)


if __name__ == "__main__":
    r = p99(sys.argv[1])
    if r is not None:
        print(r)
