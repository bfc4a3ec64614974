"""`python -m multicloud_broker.fakecloud`: the simulated cloud on its own."""

import eventlet

eventlet.monkey_patch()  # before anything else opens sockets or threads

import sys  # noqa: E402

from multicloud_broker.fakecloud.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
