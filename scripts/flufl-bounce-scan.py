#!/usr/bin/python3
"""Prints, as one JSON object, the addresses flufl.bounce finds in every sample of its own test
data (Debian's python3-flufl.bounce): {"data_dir": ..., "samples": {"name.txt": {"permanent":
[...], "temporary": [...], "scan": [...]}}}. Read by Tests/DeliveryReportsTests/FluflBounceTests.

Run with Debian's /usr/bin/python3 (the package installs into its dist-packages). Exit status 3
when flufl.bounce is not installed.
"""
import email
import json
import os
import sys

try:
    import flufl.bounce
    from flufl.bounce import all_failures, scan_message
except ImportError as e:  # reported to the caller, which decides skip vs failure
    print(json.dumps({"error": "flufl.bounce not importable: %s" % e}))
    sys.exit(3)


def text(a):
    return a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a)


def main():
    data_dir = os.path.join(os.path.dirname(flufl.bounce.__file__), "tests", "data")
    out = {"data_dir": data_dir, "samples": {}}
    for name in sorted(os.listdir(data_dir)):
        if not name.endswith(".txt"):
            continue
        with open(os.path.join(data_dir, name), "rb") as f:
            msg = email.message_from_binary_file(f)
        entry = {}
        try:
            temporary, permanent = all_failures(msg)
            entry["permanent"] = sorted({text(a) for a in permanent})
            entry["temporary"] = sorted({text(a) for a in temporary})
            entry["scan"] = sorted({text(a) for a in scan_message(msg)})
        except Exception as e:  # flufl's own failure on a sample is data, not a crash of ours
            entry["error"] = repr(e)
        out["samples"][name] = entry
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
