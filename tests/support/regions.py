"""Cloud regions the test inventories hold, and where the default catalog sends them."""

from __future__ import annotations

from dataclasses import dataclass

OWNER = "CloudOwner"


@dataclass(frozen=True)
class Region:
    owner: str
    region: str
    cloud_type: str
    version: str
    plugin: str | None  # plugin the default catalog picks; None: type not in catalog

    @property
    def vim_id(self) -> str:
        return f"{self.owner}_{self.region}"

    @property
    def v0(self) -> str:
        """Broker path prefix of this region in API v0."""
        return f"/api/multicloud/v0/{self.vim_id}"

    @property
    def v1(self) -> str:
        """Broker path prefix of this region in API v1."""
        return f"/api/multicloud/v1/{self.owner}/{self.region}"

    @property
    def plugin_v0(self) -> str:
        """Where the plugin receives v0 calls for this region."""
        return f"/api/{self.plugin}/v0/{self.vim_id}"

    @property
    def plugin_v1(self) -> str:
        return f"/api/{self.plugin}/v1/{self.owner}/{self.region}"

    @property
    def v1_ref(self) -> dict:
        """The region as a v1 check_vim_capacity VIMs item."""
        return {"cloud-owner": self.owner, "cloud-region-id": self.region}


OCATA = Region(OWNER, "RegionOcata", "openstack", "ocata", "multicloud-ocata")
PIKE = Region(OWNER, "RegionPike", "openstack", "pike", "multicloud-pike")
TITANIUM = Region(OWNER, "RegionTitanium", "openstack", "titanium_cloud",
                  "multicloud-titaniumcloud")
STARLINGX = Region(OWNER, "RegionStx", "openstack", "starlingx", "multicloud-starlingx")
VIO = Region(OWNER, "RegionVio", "vmware", "4.0", "multicloud-vio")
VSPHERE = Region(OWNER, "RegionVsphere", "vsphere", "6.5", "multicloud-vio")
AZURE = Region(OWNER, "RegionAzure", "azure", "1.0", "multicloud-azure")
# A version the catalog does not list: the type's default plugin.
NEWTON = Region(OWNER, "RegionNewton", "openstack", "newton", "multicloud-ocata")
VMWARE_OLD = Region(OWNER, "RegionVmwareOld", "vmware", "3.0", "multicloud-vio")
# A type the catalog does not list: 404.
K8S = Region(OWNER, "RegionK8s", "kubernetes", "v1.19", None)
# Region ids may hold "_": the vim id splits at the first "_".
UNDERSCORED = Region(OWNER, "Region_Under_Score", "openstack", "pike", "multicloud-pike")
# Owners may hold "-".
DASHED = Region("owner-two", "region-2", "openstack", "ocata", "multicloud-ocata")

ALL = (OCATA, PIKE, TITANIUM, STARLINGX, VIO, VSPHERE, AZURE, NEWTON, VMWARE_OLD,
       K8S, UNDERSCORED, DASHED)
# Known to neither inventory.
MISSING = Region(OWNER, "RegionMissing", "openstack", "ocata", "multicloud-ocata")

PLUGINS = ("multicloud-ocata", "multicloud-pike", "multicloud-titaniumcloud",
           "multicloud-vio", "multicloud-azure", "multicloud-starlingx")

# GET v0/vim_types for ONAP's default catalog.
DEFAULT_VIM_TYPES = [
    {"vim_type": "openstack", "versions": ["titanium_cloud", "ocata", "pike", "starlingx"]},
    {"vim_type": "vmware", "versions": ["4.0"]},
    {"vim_type": "vsphere", "versions": ["6.5"]},
    {"vim_type": "azure", "versions": ["1.0"]},
]
