"""``python -m devenv_operator``: run the operator."""

import sys

from devenv_operator.main import cli

sys.exit(cli())
