"""``python -m engine.cli`` runs the ``clarity`` command."""

import sys

from engine.cli.main import main

sys.exit(main())
