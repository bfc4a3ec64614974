"""A southbound OpenStack simulator for tests: Nova, Neutron, Glance, Cinder
and Heat on one port, each under its own path prefix as devstack lays them
out, every request authenticated against a real Keystone.

Run::

    python -m multicloud_broker.simulators.openstack --bind-host 127.0.0.1 \\
        --bind-port 8774 --keystone-url http://127.0.0.1:5000/v3 \\
        --admin-user admin --admin-password secret --admin-project admin --register

It prints ``openstack simulator on http://127.0.0.1:8774`` once it listens.
``--register`` adds the services to Keystone's catalog (region ``--region``,
default RegionOne; public, internal and admin interfaces).

URL layout (``R`` is the root URL)::

    compute        R/compute/v2.1                  (GET R/compute/: versions)
    network        R/network          (+ /v2.0)    (GET R/network/: versions)
    image          R/image            (+ /v2)      (GET R/image/: versions, 300)
    block-storage  R/volume/v3/$(project_id)s      (GET R/volume/: versions, 300)
    volumev3       R/volume/v3/$(project_id)s
    orchestration  R/heat/v1/$(project_id)s        (GET R/heat/: versions, 300)

Authentication works as keystonemiddleware does: every request but the
version documents needs ``X-Auth-Token``; the token is validated with
Keystone (``GET /v3/auth/tokens``) by the simulator's admin session, the
answer cached (bounded) until ``--token-cache-seconds`` pass or shortly
before the token expires. A missing or invalid token gets 401 with
``WWW-Authenticate: Keystone uri="KEYSTONE-URL"`` (the body is
keystonemiddleware's, Glance's own for the image service). Records belong to the
token's project: another project's are 404 (an admin role sees all, with
``all_tenants`` where the real service asks for it).

Test-only control API, no token, under ``R/_sim/``::

    GET    /_sim/               {"faults": [...], "counts": {...}}
    POST   /_sim/faults         {"kind": K, "service": S, "count": N | null, ...}
                                -> 201 {"fault": {"id": ..., ...}}
    GET    /_sim/faults         {"faults": [...]}
    DELETE /_sim/faults         clear every fault (hung requests let go)
    DELETE /_sim/faults/{id}    clear one
    GET    /_sim/count          {"compute": n, "network": n, "image": n, "volume": n,
                                 "orchestration": n, "token_validations": n}
    DELETE /_sim/count          zero the counts
    DELETE /_sim/tokens         forget cached token validations
    POST   /_sim/reset          back to the start: seeds only; no faults, counts or
                                cached tokens
    POST   /_sim/seed           {"servers": N, "project_id": P, "prefix": "seed"}: N ACTIVE
                                servers of P at once (large listings) -> 201

Services S: compute, network, image, volume, orchestration (or nova, neutron,
glance, cinder, block-storage, volumev3, heat). ``count`` is how many times
the fault applies (default 1; null: until cleared). Optional ``method`` and
``path`` (a regular expression searched in the path below the service's
prefix, e.g. "/servers") narrow a transport fault. Kinds and their fields
(see faults.py):

    status          answer `status` (default 500) in the service's error shape
    garbage         `status` (default 200) with a body that is not JSON
    hang            never answer; closed when cleared or after `seconds` (3600)
    reset           TCP RST, no answer
    truncate        real answer, head with the full Content-Length, `bytes`
                    (default half) of the body, then close
    trickle         real answer, `chunk` bytes (1) every `interval` s (0.2)
    server_error    the next server goes BUILD then ERROR (`message`)
    stack_failed    the next stack goes CREATE_FAILED with `reason`
    quota_exceeded  the next server create is refused, `status` 403 (default)
                    or 413; with service "volume", the next volume create (413)
    image_stuck     the next image uploaded stays `saving`
    volume_error    the next volume goes creating then error
    delete_stuck    the next server delete (service "volume": volume,
                    "orchestration": stack) is accepted and never done,
                    until deleted again with no such fault in force

Seeds: flavors m1.tiny..m1.xlarge (ids 1-5), m1.nano (42), m1.micro (84); a
public active image ``cirros-0.6.2-x86_64-disk`` (64 KiB of known bytes);
the external network ``public`` (172.24.4.0/24); hypervisors
``compute-1``.. (``--hypervisors``); volume type ``lvmdriver-1``.
"""
