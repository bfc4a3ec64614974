import subprocess
import sys
from pathlib import Path

import pytest

from multicloud_broker.config import ConfigError, load_config
from multicloud_broker.green import wanted_backend

SAMPLE = Path(__file__).resolve().parents[2] / "etc" / "multicloud-broker.conf.sample"


def test_defaults():
    conf = load_config([], environ={})
    assert conf.web_framework == "django"
    assert conf.bind_port == 9001
    assert conf.inventory.backend == "sqlite"
    assert conf.workers is None  # decided from usable CPUs at start


def test_onap_variables_map_onto_options():
    conf = load_config([], environ={
        "WEB_FRAMEWORK": "pecan", "MSB_PROTO": "https", "MSB_ADDR": "msb.onap",
        "MSB_PORT": "443", "AAI_PROTOCOL": "http", "AAI_ADDR": "aai.onap",
        "AAI_PORT": "8080", "AAI_SCHEMA_VERSION": "v16", "AAI_USERNAME": "u",
        "AAI_PASSWORD": "p", "SSL_ENABLED": "false"})
    assert conf.web_framework == "pecan"
    assert (conf.msb.protocol, conf.msb.host, conf.msb.port) == ("https", "msb.onap", 443)
    assert (conf.aai.protocol, conf.aai.host, conf.aai.port) == ("http", "aai.onap", 8080)
    assert (conf.aai.schema_version, conf.aai.username, conf.aai.password) == ("v16", "u", "p")
    assert conf.inventory.backend == "aai"  # AAI_ADDR set


def test_precedence_file_then_environment_then_flags(tmp_path):
    conf_file = tmp_path / "b.conf"
    conf_file.write_text("[DEFAULT]\nweb_framework = pecan\nbind_port = 9100\nworkers = 3\n")
    conf = load_config(["--config-file", str(conf_file), "--bind-port", "9200"],
                       environ={"WEB_FRAMEWORK": "django"})
    assert conf.bind_port == 9200        # flag over file
    assert conf.web_framework == "django"  # environment over file
    assert conf.workers == 3             # file over default


@pytest.mark.parametrize("argv, environ, says", [
    ([], {"WEB_FRAMEWORK": "flask"}, "WEB_FRAMEWORK"),
    ([], {"SERVER_BACKEND": "asyncio"}, "SERVER_BACKEND"),
    (["--bind-port", "70000"], {}, "--bind-port"),
    ([], {"MSB_PORT": "x"}, "MSB_PORT"),
    (["--workers", "0"], {}, "--workers"),
    (["--config-file", "/nonexistent/broker.conf"], {}, "cannot read config file"),
])
def test_bad_values_give_one_line(argv, environ, says):
    with pytest.raises(ConfigError) as caught:
        load_config(argv, environ=environ)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_value_in_file_names_the_option(tmp_path):
    conf_file = tmp_path / "b.conf"
    conf_file.write_text("[plugins]\nread_timeout = soon\n")
    with pytest.raises(ConfigError, match=r"\[plugins\] read_timeout"):
        load_config(["--config-file", str(conf_file)], environ={})


def test_tls_needs_cert_and_key():
    with pytest.raises(ConfigError, match="cert_file and key_file"):
        load_config([], environ={"SSL_ENABLED": "true"})


@pytest.mark.parametrize("files, argv, environ", [
    ([], [], {}),
    (["server_backend = gevent"], [], {}),
    (["server_backend = gevent", "server_backend = eventlet"], [], {}),
    (["server_backend = eventlet"], [], {"SERVER_BACKEND": "gevent"}),
    (["server_backend = gevent"], ["--server-backend", "eventlet"], {"SERVER_BACKEND": "gevent"}),
    (["workers = 2"], ["--server-backend=gevent"], {}),
])
def test_the_backend_chosen_before_patching_is_the_configured_one(tmp_path, files, argv,
                                                                  environ):
    """The entry point patches for wanted_backend() before the configuration
    exists: both must read the same sources with the same precedence."""
    for i, line in enumerate(files):
        path = tmp_path / f"{i}.conf"
        path.write_text(f"[DEFAULT]\n{line}\n")
        argv = ["--config-file", str(path), *argv]
    assert wanted_backend(argv, environ) == load_config(argv, environ=environ).server_backend


def test_the_sample_config_lists_every_option():
    generated = subprocess.run(
        [sys.executable, "-m", "oslo_config.generator", "--namespace", "multicloud_broker",
         "--namespace", "oslo.service.service"], capture_output=True, text=True, check=True)
    assert generated.stdout == SAMPLE.read_text(), "regenerate etc/ (see README)"
