"""The plugin catalog: which plugin serves a cloud type and version."""

from __future__ import annotations

import json
from dataclasses import dataclass

from multicloud_broker.core.errors import NotFound


class CatalogError(Exception):
    """The catalog file cannot be used."""


@dataclass(frozen=True)
class VimType:
    name: str
    versions: dict[str, str]  # version -> plugin, in file order
    default_plugin: str


class PluginCatalog:
    """ONAP's provider-plugin.json, loaded once."""

    def __init__(self, types: list[VimType]):
        self._types = {t.name: t for t in types}
        body = [{"vim_type": t.name, "versions": list(t.versions)} for t in types]
        # Served as is on every vim_types call.
        self.vim_types_json = json.dumps(body).encode()

    @classmethod
    def load(cls, path: str) -> "PluginCatalog":
        """Read and check a provider-plugin.json file."""
        try:
            with open(path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except OSError as exc:
            raise CatalogError(f"cannot read plugin catalog {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise CatalogError(f"plugin catalog {path} is not JSON: {exc}") from None
        try:
            return cls([_vim_type(key, entry) for key, entry in raw.items()])
        except (AttributeError, KeyError, TypeError) as exc:
            raise CatalogError(f"plugin catalog {path} has an unexpected shape ({exc!r})") from None

    def plugin_for(self, cloud_type: str, version: str) -> str:
        """The plugin name for a region; NotFound if the type is unknown."""
        vim_type = self._types.get(cloud_type)
        if vim_type is None:
            raise NotFound(f"no plugin for cloud type {cloud_type!r}")
        return vim_type.versions.get(version, vim_type.default_plugin)

    @property
    def plugins(self) -> set[str]:
        names = {t.default_plugin for t in self._types.values()}
        for vim_type in self._types.values():
            names.update(vim_type.versions.values())
        return names


def _vim_type(key: str, entry: dict) -> VimType:
    name = entry.get("vim_type", key)
    versions = {str(v): str(info["provider_plugin"])
                for v, info in entry.get("versions", {}).items()}
    return VimType(str(name), versions, str(entry["provider_plugin"]))
