"""``python -m dsn_core.startplugin NAME``: see :mod:`dsn_core.startplugin`."""

import sys

from . import main

sys.exit(main())
