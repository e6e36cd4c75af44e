"""`python -m shuttlesense <command>`: the same commands as the `shuttlesense` script (and what
`accelerate launch -m shuttlesense ...` runs)."""

import sys

from shuttlesense.cli import main

if __name__ == "__main__":
    sys.exit(main())
