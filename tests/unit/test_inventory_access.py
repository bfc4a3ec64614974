"""A region's cloud access (CloudAccess, inventory/esr.py): the password never
shows; A&AI's esr-system-info and cloud-extra-info read and written back; the
regions API (core/regions.py) over a real SQLite store, in process: values
checked, answers without the password, a PUT without one keeping it."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from multicloud_broker.core.errors import ApiError, BadRequest
from multicloud_broker.core.http import Request
from multicloud_broker.core.regions import (Credentials, RegionApi, document, parse_record,
                                            record)
from multicloud_broker.inventory import (CloudAccess, CloudRegion, IncompleteRegion,
                                         without_passwords)
from multicloud_broker.inventory.esr import (AccessError, access_from, openstack_region,
                                             with_access)
from multicloud_broker.inventory.sqlite import SqliteInventory

# Quotes, backslash, newlines, format and parameter markers of every driver
# (%s, %(x)s, :name, ?), SQL, non-ASCII (Latin-1 and beyond the BMP).
HOSTILE = ("p%s%%(x)s:o ?'\"\\\n\r\t--; DROP TABLE cloud_region;-- "
           "ÿ wörd 中文 \U0001f511 end")
PEM = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ3Jvd24tdXAtY2EtZm9yLXRlc3Rz\n"
       "-----END CERTIFICATE-----\n")
KEYSTONE = "https://keystone.example:5000/v3"


def esr(**fields: object) -> dict:
    entry = {"esr-system-info-id": "e1", "system-type": "VIM", "service-url": KEYSTONE,
             "user-name": "admin", "password": HOSTILE}
    entry.update(fields)
    return {"esr-system-info-list": {"esr-system-info": [
        {k: v for k, v in entry.items() if v is not None}]}}


def deep_strings(value: object) -> list[str]:
    """Every string (keys included) inside a decoded JSON value."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *deep_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in deep_strings(v)]
    return [value] if isinstance(value, str) else []


# -- the password never shows ---------------------------------------------------------

def test_repr_str_and_format_hide_the_password_and_the_certificate():
    access = CloudAccess(KEYSTONE, "admin", HOSTILE, ca_cert=PEM, project="p")
    region = CloudRegion("o", "r", "openstack", "ocata", access=access)
    for text in (repr(access), str(access), f"{access}", f"{access!r}", repr(region),
                 str(region), "%s %r" % (region, access), str([region]), str({1: access})):
        assert HOSTILE not in text and "wörd" not in text and "MIIB" not in text, text
        assert "password=<set>" in text
    assert "password=None" in repr(CloudAccess(KEYSTONE, "admin"))
    assert access.password == HOSTILE and access.has_password  # only by asking for it


def test_a_password_in_a_log_record_of_the_region_does_not_reach_the_log(caplog):
    region = CloudRegion("o", "r", "openstack", "ocata",
                         access=CloudAccess(KEYSTONE, "admin", HOSTILE))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("multicloud_broker.test").debug("region %s, access %r", region,
                                                          region.access)
    assert caplog.text and HOSTILE not in caplog.text and "wörd" not in caplog.text


def test_extra_never_holds_a_password():
    doc = {"note": "x", **esr()}
    doc["esr-system-info-list"]["esr-system-info"].append({"password": "other"})
    region = CloudRegion("o", "r", "openstack", "ocata", extra=doc)
    assert "password" not in json.dumps(region.extra)
    assert region.extra["note"] == "x"
    assert doc["esr-system-info-list"]["esr-system-info"][0]["password"] == HOSTILE  # a copy
    # Not A&AI's shape: cannot be cleaned, so it is dropped whole.
    for bad in ({"esr-system-info": {"password": "p"}}, ["password"],
                {"esr-system-info": [["password"]]}):
        assert without_passwords({"a": 1, "esr-system-info-list": bad}) == {"a": 1}
    assert without_passwords({"a": 1}) == {"a": 1}


def test_the_openstack_region_defaults_to_the_cloud_region_id():
    region = CloudRegion("o", "RegionOne", "openstack", "ocata",
                         access=CloudAccess(KEYSTONE, "admin"))
    assert region.access.openstack_region == "RegionOne"
    named = CloudRegion("o", "RegionOne", "openstack", "ocata",
                        access=CloudAccess(KEYSTONE, "admin", openstack_region="RegionX"))
    assert named.access.openstack_region == "RegionX"


def test_require_access_names_what_is_missing():
    with pytest.raises(IncompleteRegion, match="esr-system-info-list") as caught:
        CloudRegion("o", "r", "openstack", "ocata").require_access()
    assert caught.value.status == 404


# -- A&AI's shape, read --------------------------------------------------------------

def test_every_field_of_the_esr_system_info_is_read():
    doc = esr(**{"cloud-domain": "Dom", "default-tenant": "proj", "ssl-cacert": PEM,
                 "ssl-insecure": True})
    assert access_from(doc, "RegionOne") == CloudAccess(
        KEYSTONE, "admin", HOSTILE, user_domain="Dom", project="proj", ca_cert=PEM,
        insecure=True, openstack_region="RegionOne")


def test_defaults_when_fields_are_absent():
    access = access_from(esr(password=None), "RegionOne")
    assert access == CloudAccess(KEYSTONE, "admin", None, "Default", "", "", False,
                                 "RegionOne")
    assert access_from({}, "r") is None
    assert access_from({"esr-system-info-list": {}}, "r") is None
    assert access_from({"esr-system-info-list": {"esr-system-info": []}}, "r") is None


@pytest.mark.parametrize("doc, expected", [
    ({}, "RegionOne"),
    ({"cloud-extra-info": json.dumps({"openstack-region-id": "RegionKs"})}, "RegionKs"),
    ({"cloud-extra-info": "{not json"}, "RegionOne"),
    ({"cloud-extra-info": "[1, 2]"}, "RegionOne"),
    ({"cloud-extra-info": ""}, "RegionOne"),
    ({"cloud-extra-info": json.dumps({"openstack-region-id": 12})}, "RegionOne"),
    ({"cloud-extra-info": json.dumps({"openstack-region-id": " "})}, "RegionOne"),
    ({"cloud-extra-info": {"openstack-region-id": "NotAString"}}, "RegionOne"),
], ids=["absent", "given", "invalid-json", "not-an-object", "empty", "number", "blank",
        "object-not-text"])
def test_openstack_region_id_from_cloud_extra_info_else_the_region_id(doc, expected):
    assert openstack_region(doc, None, "RegionOne") == expected


def test_the_esr_system_info_s_own_openstack_region_id_wins():
    doc = {"cloud-extra-info": json.dumps({"openstack-region-id": "FromExtra"}),
           **esr(**{"openstack-region-id": "FromEsr"})}
    assert access_from(doc, "RegionOne").openstack_region == "FromEsr"


@pytest.mark.parametrize("doc, field", [
    ({"esr-system-info-list": []}, "esr-system-info-list"),
    ({"esr-system-info-list": {"esr-system-info": {}}}, "esr-system-info-list.esr-system-info"),
    ({"esr-system-info-list": {"esr-system-info": ["x"]}}, "esr-system-info[0]"),
    (esr(**{"service-url": None}), "esr-system-info[0].service-url is required"),
    (esr(**{"service-url": 5000}), "service-url must be a string"),
    (esr(**{"service-url": "keystone:5000/v3"}), "service-url must be an http"),
    (esr(**{"service-url": "ftp://keystone/v3"}), "service-url must be an http"),
    (esr(**{"service-url": "https://"}), "service-url must be an http"),
    (esr(**{"service-url": "https://k:99999/v3"}), "service-url is not a valid URL"),
    (esr(**{"service-url": "https://k/v3 x"}), "service-url must not contain spaces"),
    (esr(**{"service-url": f"https://admin:{HOSTILE[:5]}@k/v3"}), "must not carry credentials"),
    (esr(**{"user-name": None}), "user-name is required"),
    (esr(**{"user-name": ["admin"]}), "user-name must be a string"),
    (esr(password=123), "password must be a string"),
    (esr(password=""), "password must not be empty"),
    (esr(password="a\x00b"), "password must not contain NUL"),
    (esr(password="a\ud800b"), "password must be valid Unicode"),
    (esr(**{"ssl-insecure": "true"}), "ssl-insecure must be a boolean"),
    (esr(**{"ssl-insecure": 1}), "ssl-insecure must be a boolean"),
    (esr(**{"ssl-cacert": "/etc/ssl/ca.pem"}), "ssl-cacert must be the CA certificate"),
    (esr(**{"cloud-domain": False}), "cloud-domain must be a string"),
    (esr(**{"default-tenant": {}}), "default-tenant must be a string"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_unusable_values_name_the_field_and_never_the_value(doc, field):
    with pytest.raises(AccessError) as caught:
        access_from(doc, "r")
    assert field in caught.value.message
    assert HOSTILE[:5] not in caught.value.message


def test_every_entry_is_type_checked_not_only_the_first():
    doc = esr()
    doc["esr-system-info-list"]["esr-system-info"].append({"ssl-insecure": "no"})
    with pytest.raises(AccessError, match=r"esr-system-info\[1\]\.ssl-insecure"):
        access_from(doc, "r")


# -- A&AI's shape, written back ----------------------------------------------------------

def test_written_back_over_the_given_entry_without_any_password():
    doc = {"note": 1, **esr(vendor="acme", **{"default-tenant": ""})}
    doc["esr-system-info-list"]["esr-system-info"].append({"esr-system-info-id": "e2",
                                                           "password": "second"})
    region = CloudRegion("o", "r", "openstack", "ocata", extra=doc,
                         access=access_from(doc, "r"))
    shown = with_access(region.extra, region.access, "r")
    first, second = shown["esr-system-info-list"]["esr-system-info"]
    assert first == {"esr-system-info-id": "e1", "system-type": "VIM", "vendor": "acme",
                     "service-url": KEYSTONE, "user-name": "admin", "cloud-domain": "Default",
                     "ssl-insecure": False, "default-tenant": ""}
    assert second == {"esr-system-info-id": "e2"}
    assert shown["note"] == 1 and "cloud-extra-info" not in shown


def test_an_access_without_a_record_of_it_is_shown_in_a_new_entry():
    access = CloudAccess(KEYSTONE, "admin", HOSTILE, project="p", ca_cert=PEM,
                         openstack_region="RegionKs")
    shown = with_access({}, access, "RegionOne")
    assert shown["esr-system-info-list"]["esr-system-info"] == [{
        "system-type": "VIM", "service-url": KEYSTONE, "user-name": "admin",
        "cloud-domain": "Default", "ssl-insecure": False, "default-tenant": "p",
        "ssl-cacert": PEM}]
    assert json.loads(shown["cloud-extra-info"]) == {"openstack-region-id": "RegionKs"}
    assert access_from(shown, "RegionOne") == CloudAccess(
        KEYSTONE, "admin", None, project="p", ca_cert=PEM, openstack_region="RegionKs")
    assert with_access({"a": 1}, None, "r") == {"a": 1}


def test_a_stored_openstack_region_that_the_record_contradicts_wins_in_the_answer():
    extra = {"cloud-extra-info": json.dumps({"openstack-region-id": "Old"}), **esr()}
    access = CloudAccess(KEYSTONE, "admin", openstack_region="New")
    shown = with_access(extra, access, "r")
    assert access_from(shown, "r").openstack_region == "New"
    assert shown["cloud-extra-info"] == extra["cloud-extra-info"]  # kept as given


# -- the regions API, in process, over a real SQLite store -------------------------------

USER, API_PASSWORD = "admin", "api-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{API_PASSWORD}".encode()).decode()
PATH = "/aai/v16/cloud-infrastructure/cloud-regions/cloud-region/o/RegionOne"


@pytest.fixture
def store(tmp_path) -> SqliteInventory:
    return SqliteInventory(str(tmp_path / "inventory.sqlite"))


@pytest.fixture
def api(store) -> RegionApi:
    return RegionApi("v16", Credentials(USER, API_PASSWORD), store)


def call(api: RegionApi, method: str, body: object = None) -> tuple[int, bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    request = Request(method=method, path=PATH, query="",
                      headers={"authorization": AUTH, "content-type": "application/json"},
                      header_items=[], body=io.BytesIO(data), content_length=len(data))
    try:
        response = api.one(request, "o", "RegionOne")
    except ApiError as exc:
        return exc.status, exc.message.encode()
    return response.status, b"".join([response.body] if isinstance(response.body, bytes)
                                     else response.body)


def ocata(**extra: object) -> dict:
    return {"cloud-type": "openstack", "cloud-region-version": "ocata", **extra}


def test_put_stores_the_access_and_no_answer_holds_the_password(api, store):
    body = ocata(**{"cloud-extra-info": json.dumps({"openstack-region-id": "RegionKs"}),
                    **esr(**{"ssl-insecure": True, "ssl-cacert": PEM})})
    status, answer = call(api, "PUT", body)
    assert status == 201
    stored = store.get("o", "RegionOne")
    assert stored.access == CloudAccess(KEYSTONE, "admin", HOSTILE, insecure=True,
                                        ca_cert=PEM, openstack_region="RegionKs")
    status, shown = call(api, "GET")
    listed = api.list(Request("GET", PATH, "", {"authorization": AUTH}, [], None, None))
    for raw in (answer, shown, listed.body):
        text = raw.decode()
        assert "password" not in text and "wörd" not in text and "\\u00f6" not in text
        assert not [s for s in deep_strings(json.loads(raw)) if "DROP TABLE" in s]
    entry = json.loads(shown)["esr-system-info-list"]["esr-system-info"][0]
    assert entry["service-url"] == KEYSTONE and entry["ssl-insecure"] is True


def test_get_modify_put_keeps_the_password(api, store):
    call(api, "PUT", ocata(**esr()))
    status, shown = call(api, "GET")
    record_ = json.loads(shown)
    record_["esr-system-info-list"]["esr-system-info"][0]["default-tenant"] = "changed"
    record_["cloud-region-version"] = "pike"
    assert call(api, "PUT", record_)[0] == 200
    stored = store.get("o", "RegionOne")
    assert (stored.access.password, stored.access.project, stored.cloud_region_version) == \
        (HOSTILE, "changed", "pike")
    # A new password replaces it.
    record_["esr-system-info-list"]["esr-system-info"][0]["password"] = "new"
    record_.pop("resource-version")
    assert call(api, "PUT", record_)[0] == 200
    assert store.get("o", "RegionOne").access.password == "new"


@pytest.mark.parametrize("change", [{"service-url": "https://elsewhere.example/v3"},
                                    {"user-name": "someone-else"}])
def test_a_changed_keystone_or_user_without_the_password_is_refused(api, store, change):
    call(api, "PUT", ocata(**esr()))
    status, message = call(api, "PUT", ocata(**esr(password=None, **change)))
    assert status == 400 and b"password is required" in message
    assert store.get("o", "RegionOne").access.auth_url == KEYSTONE  # unchanged
    assert call(api, "PUT", ocata(**esr(password="p2", **change)))[0] == 200


def test_without_a_stored_password_a_put_without_one_stores_none(api, store):
    assert call(api, "PUT", ocata(**esr(password=None)))[0] == 201
    assert store.get("o", "RegionOne").access.password is None
    # Dropping the esr list drops the access (a PUT replaces the record).
    assert call(api, "PUT", ocata())[0] == 200
    assert store.get("o", "RegionOne").access is None


@pytest.mark.parametrize("body, field", [
    (ocata(**esr(**{"service-url": 5000})), "service-url"),
    (ocata(**esr(**{"service-url": "keystone.example/v3"})), "service-url"),
    (ocata(**esr(**{"ssl-insecure": "false"})), "ssl-insecure"),
    (ocata(**{"cloud-extra-info": {"openstack-region-id": "x"}}), "cloud-extra-info"),
    (ocata(**{"esr-system-info-list": "x"}), "esr-system-info-list"),
], ids=["url-number", "url-no-scheme", "insecure-string", "extra-info-object", "list-string"])
def test_bad_values_are_400_naming_the_field_and_nothing_is_stored(api, store, body, field):
    with pytest.raises(BadRequest) as caught:
        parse_record(body, "o", "RegionOne")
    assert field in caught.value.message and HOSTILE[:5] not in caught.value.message
    status, message = call(api, "PUT", body)
    assert status == 400 and field.encode() in message
    assert store.list() == []


def test_record_of_a_region_without_access_is_as_before():
    region = CloudRegion("o", "r", "openstack", "ocata", extra={"a": 1})
    assert record(region) == {"a": 1, "cloud-owner": "o", "cloud-region-id": "r",
                              "cloud-type": "openstack", "cloud-region-version": "ocata"}


def test_swagger_says_the_password_is_write_only(api):
    doc = json.loads(document(json.dumps({"paths": {}}).encode(), api))
    password = doc["definitions"]["EsrSystemInfo"]["properties"]["password"]
    assert "never in an answer" in password["description"]
    cloud_region = doc["definitions"]["CloudRegion"]["properties"]
    assert cloud_region["esr-system-info-list"] == {"$ref": "#/definitions/EsrSystemInfoList"}
    assert cloud_region["cloud-extra-info"]["type"] == "string"
