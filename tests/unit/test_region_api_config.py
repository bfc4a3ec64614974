"""[region_api]: off by default, on with a username and a password (or a
password file), refused at start-up when half configured."""

from __future__ import annotations

import pytest

from multicloud_broker.config import ConfigError, load_config
from multicloud_broker.core.regions import Credentials
from multicloud_broker.wiring import build_region_api


def _conf(tmp_path, **options: str):
    path = tmp_path / "broker.conf"
    path.write_text("[region_api]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))
    return load_config(["--config-file", str(path)], environ={})


def test_off_by_default(tmp_path):
    assert not build_region_api(_conf(tmp_path), None).enabled


def test_on_with_a_password_file_at_the_aai_schema_version(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\nignored second line\n")
    conf = _conf(tmp_path, username="admin", password_file=str(secret))
    api = build_region_api(conf, None)
    assert api.enabled and api.schema == conf.aai.schema_version == "v13"
    assert api.credentials == Credentials("admin", "s3cret")


@pytest.mark.parametrize("options, says", [
    ({"username": "admin"}, "needs both"),
    ({"password": "x"}, "needs both"),
    ({"username": "admin", "password_file": "/nonexistent/secret"}, "cannot read"),
])
def test_half_configured_is_refused_in_one_line(tmp_path, options, says):
    with pytest.raises(ConfigError, match=says) as caught:
        _conf(tmp_path, **options)
    assert "\n" not in str(caught.value) and "[region_api]" in str(caught.value)


def test_an_empty_password_file_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("\n")
    with pytest.raises(ConfigError, match="empty first line"):
        _conf(tmp_path, username="admin", password_file=str(secret))
