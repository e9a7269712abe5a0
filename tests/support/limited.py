"""Runs a command under an address-space limit, as `prlimit --as` does, so a test can tell
an input that costs bounded memory from one that takes all it can get:

    python -m tests.support.limited BYTES COMMAND [ARGS...]
"""

from __future__ import annotations

import os
import resource
import sys


def main() -> None:
    limit, command = int(sys.argv[1]), sys.argv[2:]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
