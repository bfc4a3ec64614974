"""The OpenStack plugin's built-in resource declarations.

`declarations/*.yaml` declares, one file per resource, how ONAP's MultiCloud
resources (images, flavors, networks, subnets, ports, servers, volumes,
hosts, limits, tenants) map onto the OpenStack APIs (Nova, Neutron, Glance,
Cinder, Keystone); see `declarations/README.md` and
`multicloud_broker.plugin.declarations` for the format.
"""
