"""Settings of the contract suite's brokers that tests also need to know."""

AAI_USER = "aai-tester"
AAI_PASSWORD = "s3cret-pw"
AAI_SCHEMA = "v19"  # not the default v13: proves the configured schema is used
SMALL_BODY_LIMIT = 1048576  # max_body_size of the "faults" broker
PLUGIN_READ_TIMEOUT = 2  # [plugins] read_timeout: slow-plugin tests stay quick
CAPACITY_TIMEOUT = 3  # [plugins] capacity_timeout
# The "env" broker gets its A&AI settings from ONAP's environment variables.
ENV_AAI_USER = "env-aai-user"
ENV_AAI_PASSWORD = "env-aai-pw"
ENV_AAI_SCHEMA = "v21"
# [plugins] of the "hostile" broker: deadlines short enough for quick tests.
HOSTILE_PLUGINS = {"connect_timeout": 1, "read_timeout": 1.5, "total_timeout": 2.5,
                   "max_connections_per_plugin": 4, "capacity_max_vims": 5,
                   "capacity_concurrency": 2, "capacity_timeout": 3}
# wsgi_pool_size of the "crowded" broker (the hostile one's deadlines, its
# max_connections_per_plugin left to its default: half of these slots).
CROWDED_SLOTS = 20
