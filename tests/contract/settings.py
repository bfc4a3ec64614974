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
