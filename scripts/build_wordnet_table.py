#!/usr/bin/env python3
"""Regenerate the packaged WordNet table from the WordNet 3.0 database files.

    python scripts/build_wordnet_table.py [--wordnet-dir /usr/share/wordnet] [--check]

Reads index.*, data.* and *.exc (Debian: `apt-get install wordnet-base`), writes
src/mllmshift/data/wordnet/wordnet-3.0-synonyms.txt.xz (the tables synonym replacement needs:
lemma index, morphy exceptions, lemma names per synset) and prints its size and SHA-256.
--check only compares the packaged table with the database, table for table, and exits 1 on a
difference. The output is byte-identical for the same database (xz preset 9e, no timestamps).
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mllmshift.shifts.text.wordnet import PACKAGED_TABLE, WordNet  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wordnet-dir", default="/usr/share/wordnet", help="the WordNet 3.0 database folder")
    ap.add_argument("--out", type=Path, default=PACKAGED_TABLE)
    ap.add_argument("--check", action="store_true", help="compare the packaged table with the database only")
    args = ap.parse_args()
    database = WordNet.from_database(args.wordnet_dir)
    if args.check:
        same = WordNet.from_table(args.out) == database
        print(f"{args.out}: {'identical to' if same else 'DIFFERENT from'} {database.source}")
        return 0 if same else 1
    data = lzma.compress(database.to_table().encode("utf-8"), format=lzma.FORMAT_XZ,
                         check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    if WordNet.from_table(args.out) != database:
        print("error: the written table does not read back equal to the database", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
