"""``python -m stylex`` is the same as the ``stylex`` command."""

import sys

from .cli import main

sys.exit(main())
