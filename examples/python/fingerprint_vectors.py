"""Run racefree_fingerprint over the committed test vectors and print what it
produced, as JSON: {"vectors": {name: {"canonical", "sha256"}}, "rejected":
{name: error class or null}}. The test suite compares that with the vectors.

Usage: python3 fingerprint_vectors.py test/vectors/fingerprint.json
"""

import json
import sys

from racefree_fingerprint import canonical_json, fingerprint


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    vectors = {}
    for v in spec["vectors"]:
        value = json.loads(v["input"])
        vectors[v["name"]] = {"canonical": canonical_json(value), "sha256": fingerprint(value)}
    rejected = {}
    for v in spec["rejected"]:
        try:
            canonical_json(json.loads(v["input"]))
            rejected[v["name"]] = None
        except (ValueError, TypeError) as error:
            rejected[v["name"]] = type(error).__name__
    json.dump({"vectors": vectors, "rejected": rejected}, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main(sys.argv[1])
