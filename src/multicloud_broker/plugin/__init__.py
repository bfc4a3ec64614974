"""Elastic API exposure: the resource API a plugin serves, declared in YAML.

Framework-free: `declarations` loads and checks the declaration files,
`convert` maps fields between MultiCloud bodies and cloud documents, and
`swagger` describes the declared API as Swagger 2.0. The executor that
serves the API (HTTP, Keystone sessions, hooks) builds on these.
"""

from multicloud_broker.plugin.convert import RequestError
from multicloud_broker.plugin.declarations import (
    BUILTIN_DIR,
    MISSING,
    CloudSide,
    DeclarationError,
    Field,
    Pairs,
    Resource,
    SourcePath,
    load_builtin,
    load_declarations,
    load_file,
    parse_declaration,
)
from multicloud_broker.plugin.swagger import swagger_document

__all__ = [
    "BUILTIN_DIR", "MISSING", "CloudSide", "DeclarationError", "Field", "Pairs",
    "RequestError", "Resource", "SourcePath", "load_builtin", "load_declarations",
    "load_file", "parse_declaration", "swagger_document",
]
