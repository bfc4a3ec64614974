import os

from multicloud_broker.server.cpus import cgroup_cpu_quota, usable_cpus


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) == 1.5


def test_cgroup_v2_unlimited(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(str(tmp_path)) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_quota(str(tmp_path)) == 1.0


def test_one_cpu_quota_on_a_big_host_gives_one_worker(tmp_path):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert usable_cpus(str(tmp_path)) == 1


def test_without_quota_the_affinity_counts(tmp_path):
    assert usable_cpus(str(tmp_path)) == len(os.sched_getaffinity(0))
