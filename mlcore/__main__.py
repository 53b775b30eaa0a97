"""Entry point for `python -m mlcore`."""
import sys

from .cli import main

sys.exit(main())
