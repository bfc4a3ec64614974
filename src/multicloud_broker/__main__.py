"""`python -m multicloud_broker` is the `multicloud-broker` command."""

import sys

from multicloud_broker.cli import main

sys.exit(main())
