"""`python -m multicloud_broker.simulators.openstack` serves the simulator."""

import sys

from multicloud_broker.simulators.openstack.cli import main

sys.exit(main())
