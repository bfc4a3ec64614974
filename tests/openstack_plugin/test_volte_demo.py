"""`demo volte` on the real chain (demo -> broker -> OpenStack plugin ->
Keystone and the OpenStack simulator), API v0 and v1, under each framework:
while deployed the cloud holds exactly the service the flow made; once
removed, exactly what it held before."""

from __future__ import annotations

import json
import time

import pytest

from multicloud_broker.demo.volte import DATA_VOLUMES, MADE, VMS
from tests.openstack_plugin.conftest import Chain
from tests.openstack_plugin.volte_support import (
    cloud_state, gone_since, new_since, output, run_demo, run_id_of)
from tests.support.client import Reply, request
from tests.support.glance import file_server

pytestmark = pytest.mark.timeout(240)


def call(chain: Chain, method: str, path: str, body: object = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    return request(chain.broker.url, method, path, body=data,
                   headers={"Content-Type": "application/json"} if data else None)


@pytest.mark.parametrize("api", ["v0", "v1"])
def test_the_service_is_deployed_exactly_and_removed_without_a_trace(chain: Chain,
                                                                     api: str) -> None:
    before = cloud_state(chain)
    kept = run_demo(chain, "--api", api, "--keep")
    assert kept.returncode == 0, output(kept)
    assert "FAILED" not in kept.stdout and "deployed and checked, kept" in kept.stdout
    assert "check_vim_capacity" in kept.stdout and "capacity_check" in kept.stdout
    run_id = run_id_of(kept)

    during = cloud_state(chain)
    made = new_since(before, during)
    assert {kind: len(ids) for kind, ids in made.items()} == \
        {**MADE, "stacks": 1 if api == "v1" else 0}, made
    assert not any(gone_since(before, during).values())
    for kind, named in made.items():
        assert all(name == run_id or name.startswith(f"{run_id}-") for name in named.values())
    servers = {name: sid for sid, name in made["servers"].items()}
    assert set(servers) == {f"{run_id}-{vm}" for vm, _, _ in VMS}
    # Each data volume is attached to its server.
    session = chain.keystone.admin_session()
    for volume_id, name in made["volumes"].items():
        vm = name[len(run_id) + 1:-len("-data")]
        assert vm in DATA_VOLUMES
        doc = session.get(f"{chain.sim.url}/volume/v3/{chain.tenant}/volumes/{volume_id}"
                          ).json()["volume"]
        assert doc["status"] == "in-use", doc
        assert [a["server_id"] for a in doc["attachments"]] == [servers[f"{run_id}-{vm}"]]

    removed = run_demo(chain, "--api", api, "--remove", run_id)
    assert removed.returncode == 0, output(removed)
    assert f"VoLTE removal {run_id}: removed" in removed.stdout
    assert cloud_state(chain) == before

    # The plain run: deployed, checked and removed in one go.
    done = run_demo(chain, "--api", api)
    assert done.returncode == 0, output(done)
    assert "FAILED" not in done.stdout
    assert "deployed, checked and removed" in done.stdout
    if api == "v0":
        assert done.stdout.count("boot server") == len(VMS)
        assert done.stdout.count("create volume") == len(DATA_VOLUMES)
        assert "all ACTIVE" in done.stdout and "all available" in done.stdout
    else:
        assert "CREATE_COMPLETE" in done.stdout and "gone after" in done.stdout
    assert cloud_state(chain) == before
    # Every call went through the broker: its access log saw them.
    log = chain.broker.stdout_path.read_text()
    assert "/api/multicloud/" + ("v0/acme_RegionOne/" if api == "v0"
                                 else "v1/acme/RegionOne/infra_workload") in log


def test_without_a_password_the_demo_says_so_in_one_line(chain: Chain) -> None:
    before = cloud_state(chain)
    done = run_demo(chain, password="")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0
    assert "OS_PASSWORD" in done.stderr and "--os-password-env" in done.stderr
    other = run_demo(chain, "--os-password-env", "VOLTE_NO_SUCH_VARIABLE")
    assert other.returncode == 2 and "VOLTE_NO_SUCH_VARIABLE" in other.stderr
    assert cloud_state(chain) == before


def test_a_wrong_password_is_keystones_refusal_and_nothing_is_made(chain: Chain) -> None:
    before = cloud_state(chain)
    done = run_demo(chain, password="not-the-password")
    assert done.returncode == 1, output(done)
    assert "401" in done.stdout and "get a token" in done.stdout
    assert "Traceback" not in done.stderr and "not-the-password" not in output(done)
    assert cloud_state(chain) == before


def test_a_project_the_user_has_no_role_in_is_keystones_refusal(chain: Chain) -> None:
    project = f"volte-other-{chain.broker.port}"
    chain.keystone.add_project(project)  # the admin has no role on it
    done = run_demo(chain, "--os-project-name", project)
    assert done.returncode == 1, output(done)
    assert f"get a token from acme_RegionOne as admin in {project}: FAILED" in done.stdout
    assert "401" in done.stdout


def test_remove_takes_only_a_run_id(chain: Chain) -> None:
    before = cloud_state(chain)
    for bad in ("", "volte", "volte-", "x", "volte-zzzzzz", "volte-abc123-mgmt"):
        done = run_demo(chain, "--remove", bad)
        assert done.returncode == 2, (bad, output(done))
        assert "run id" in done.stderr
    assert cloud_state(chain) == before


def test_an_unknown_region_is_the_brokers_404(chain: Chain) -> None:
    done = run_demo(chain, "--cloud-region-id", "Nowhere")
    assert done.returncode == 1
    assert "404" in done.stdout and "Nowhere" in output(done)
    assert "Traceback" not in done.stderr


# -- when the cloud says no: the simulator fails on purpose ----------------------------
# Each run ends non-zero, says what the cloud said, and leaves the cloud as it
# was, or lists what it could not remove and the caller still sees it there.

def test_a_server_in_error_is_named_with_novas_reason_and_nothing_is_left(
        chain: Chain) -> None:
    before = cloud_state(chain)
    reason = "No valid host was found. There are not enough hosts available (volte test)."
    chain.sim.fault("server_error", message=reason)
    done = run_demo(chain, "--api", "v0")
    assert done.returncode == 1, output(done)
    # Nova's own reason, read through the broker's service proxy with the user's token.
    assert f"went to ERROR: {reason}" in done.stdout
    assert "removing what was created so far" in done.stdout
    assert "could not remove" not in done.stdout
    assert cloud_state(chain) == before


def test_a_failed_stack_passes_heats_reason_and_is_removed(chain: Chain) -> None:
    before = cloud_state(chain)
    reason = "Resource CREATE failed: volte test: the media network is full"
    chain.sim.fault("stack_failed", reason=reason)
    done = run_demo(chain, "--api", "v1")
    assert done.returncode == 1, output(done)
    assert f"CREATE_FAILED: \"{reason}\"" in done.stdout
    assert "removing the workload" in done.stdout and "gone after" in done.stdout
    assert cloud_state(chain) == before


@pytest.mark.parametrize("service, status, words", [
    ("compute", 403, "Quota exceeded for instances"),
    ("volume", 413, "VolumeLimitExceeded"),
])
def test_a_quota_refusal_reaches_the_caller_with_the_clouds_status_and_words(
        chain: Chain, service: str, status: int, words: str) -> None:
    before = cloud_state(chain)
    chain.sim.fault("quota_exceeded", service=service, status=status)
    done = run_demo(chain, "--api", "v0")
    assert done.returncode == 1, output(done)
    step = "boot server" if service == "compute" else "create volume"
    failed = [line for line in done.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and step in failed[0], done.stdout
    assert f"answered HTTP {status}" in failed[0]
    assert words in failed[0] or words.lower() in failed[0].lower(), failed[0]
    assert cloud_state(chain) == before


def test_an_image_that_never_becomes_active_is_never_said_to_be(chain: Chain,
                                                                 tmp_path) -> None:
    (tmp_path / "disk.raw").write_bytes(b"volte" * 4096)
    base = chain.v0(f"{chain.tenant}/images")
    with file_server(tmp_path) as files:
        chain.sim.fault("image_stuck")
        body = {"name": f"stuck-{chain.broker.port}", "imageType": "raw",
                "containerFormat": "bare", "imagePath": f"{files}/disk.raw"}
        created = call(chain, "POST", base, body)
        assert created.status == 202, created
        image = created.json()
        assert image["status"] == "queued"
        # Once the simulator has answered the plugin's upload, the image is as
        # it stays: "saving", as Glance leaves an image whose import hangs.
        upload = f'"PUT /image/v2/images/{image["id"]}/file HTTP/1.1" 204'
        for _ in range(200):
            if upload in chain.sim.log.read_text():
                break
            time.sleep(0.05)
        assert upload in chain.sim.log.read_text()
    shown = call(chain, "GET", f"{base}/{image['id']}")
    assert shown.status == 200 and shown.json()["status"] == "saving", shown
    listed = call(chain, "GET", f"{base}?name={body['name']}").json()["images"]
    assert [i["status"] for i in listed] == ["saving"]
    # The demo picks only an active image: not this one.
    assert call(chain, "DELETE", f"{base}/{image['id']}").status == 204
    assert call(chain, "GET", f"{base}/{image['id']}").status == 404


@pytest.mark.parametrize("api, service, left", [
    ("v0", "compute", ("server", "volume")),
    ("v1", "orchestration", ("workload",)),
])
def test_a_delete_that_never_finishes_is_reported_and_the_resource_is_still_there(
        chain: Chain, api: str, service: str, left: tuple[str, ...]) -> None:
    before = cloud_state(chain)
    chain.sim.fault("delete_stuck", service=service)
    done = run_demo(chain, "--api", api, timeout=8)
    assert done.returncode == 1, output(done)
    run_id = run_id_of(done)
    assert f"could not remove {len(left)} resource(s):" in done.stdout
    listed = done.stdout.split("could not remove", 1)[1].splitlines()[1:1 + len(left)]
    assert [line.split()[1] for line in listed] == list(left), listed
    assert "still exists" in listed[0]
    assert f"--remove {run_id}" in done.stderr
    # The caller sees it still there: a GET through the broker finds it.
    stuck = new_since(before, cloud_state(chain))
    if api == "v0":
        assert list(stuck["servers"].values()) == [f"{run_id}-vepc-spgw"]
        assert list(stuck["volumes"].values()) == [f"{run_id}-vepc-spgw-data"]
        server = next(iter(stuck["servers"]))
        shown = call(chain, "GET", chain.v0(f"{chain.tenant}/servers/{server}"))
    else:
        assert list(stuck["stacks"].values()) == [run_id]
        shown = call(chain, "GET", chain.v1(f"infra_workload/{run_id}"))
        assert shown.json()["workload_status"] == "DELETE_IN_PROGRESS"
    assert shown.status == 200, shown
    # Asked again once the cloud behaves, the removal finishes.
    removed = run_demo(chain, "--api", api, "--remove", run_id)
    assert removed.returncode == 0, output(removed)
    assert cloud_state(chain) == before


def test_a_volume_delete_that_never_finishes_leaves_it_deleting_until_asked_again(
        chain: Chain) -> None:
    base = chain.v0(f"{chain.tenant}/volumes")
    created = call(chain, "POST", base, {"name": f"stuck-{chain.broker.port}",
                                         "volumeSize": 1})
    assert created.status == 202, created
    path = f"{base}/{created.json()['id']}"
    for _ in range(100):
        if call(chain, "GET", path).json()["status"] == "available":
            break
        time.sleep(0.05)
    chain.sim.fault("delete_stuck", service="volume")
    assert call(chain, "DELETE", path).status == 204
    shown = call(chain, "GET", path)
    assert shown.status == 200 and shown.json()["status"] == "deleting", shown
    assert chain.sim.faults() == []  # used once
    assert call(chain, "DELETE", path).status == 204
    for _ in range(100):
        if call(chain, "GET", path).status == 404:
            break
        time.sleep(0.05)
    assert call(chain, "GET", path).status == 404
