"""A simulated cloud behind the plugin side of ONAP's MultiCloud API v0 and v1.

It answers what a MultiCloud plugin (multicloud-ocata, multicloud-pike, ...)
answers, for any plugin name, and keeps each cloud region's state in SQLite, so
the broker and the VoLTE demo can be exercised without a real OpenStack.
"""
