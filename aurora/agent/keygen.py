"""``python -m aurora.agent.keygen DIR NAME``: write a CURVE key pair for the agent channel.

Writes ``DIR/NAME.key`` (public: give it to the other end -- an agent's goes into the scheduler's
allow directory, the scheduler's to every agent) and ``DIR/NAME.key_secret`` (secret, mode 0600:
keep it on this host), prints both paths, and never overwrites an existing file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aurora.agent.security import generate_keypair


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m aurora.agent.keygen",
        description="Write a ZeroMQ CURVE key pair (NAME.key public, NAME.key_secret secret).",
    )
    ap.add_argument("directory", metavar="DIR", help="where to write the pair (created if missing)")
    ap.add_argument("name", metavar="NAME", help="file name stem, e.g. the agent id or 'scheduler'")
    args = ap.parse_args(argv)
    try:
        public, secret = generate_keypair(args.directory, args.name)
    except (OSError, ValueError) as e:
        print(f"keygen: {e}", file=sys.stderr)
        return 1
    print(f"public key: {public}")
    print(f"secret key: {secret}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
