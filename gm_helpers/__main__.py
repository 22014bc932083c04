import sys

from gm_helpers.cli import main

sys.exit(main())
