"""`python -m multicloud_broker.fakecloud`: the simulated cloud on its own."""

from multicloud_broker.green import monkey_patch

monkey_patch()  # before anything else opens sockets or threads

import sys  # noqa: E402

from multicloud_broker.fakecloud.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
