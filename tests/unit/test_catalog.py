import json

import pytest

from multicloud_broker.config import catalog_path, load_config
from multicloud_broker.core.catalog import CatalogError, PluginCatalog
from multicloud_broker.core.errors import NotFound


@pytest.fixture(scope="module")
def default_catalog():
    return PluginCatalog.load(catalog_path(load_config([], environ={})))


def test_default_catalog_is_onaps(default_catalog):
    assert json.loads(default_catalog.vim_types_json) == [
        {"vim_type": "openstack", "versions": ["titanium_cloud", "ocata", "pike", "starlingx"]},
        {"vim_type": "vmware", "versions": ["4.0"]},
        {"vim_type": "vsphere", "versions": ["6.5"]},
        {"vim_type": "azure", "versions": ["1.0"]},
    ]


@pytest.mark.parametrize("cloud_type, version, plugin", [
    ("openstack", "pike", "multicloud-pike"),
    ("openstack", "titanium_cloud", "multicloud-titaniumcloud"),
    ("openstack", "queens", "multicloud-ocata"),  # unlisted version: the default
    ("vsphere", "6.5", "multicloud-vio"),
    ("azure", "1.0", "multicloud-azure"),
])
def test_plugin_for_type_and_version(default_catalog, cloud_type, version, plugin):
    assert default_catalog.plugin_for(cloud_type, version) == plugin


def test_unknown_type_is_not_found(default_catalog):
    with pytest.raises(NotFound, match="kubernetes"):
        default_catalog.plugin_for("kubernetes", "1.0")


def test_unreadable_and_malformed_catalogs_say_why(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        PluginCatalog.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="not JSON"):
        PluginCatalog.load(str(bad))
    bad.write_text('{"k8s": {"versions": {}}}')
    with pytest.raises(CatalogError, match="unexpected shape"):
        PluginCatalog.load(str(bad))
