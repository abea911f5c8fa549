"""python -m pyredis: the same as the pyredis-server command."""
import sys

from .cli import main

sys.exit(main())
