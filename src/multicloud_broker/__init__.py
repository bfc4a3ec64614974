"""multicloud-broker: the ONAP MultiCloud API broker."""

__version__ = "0.1.0"
