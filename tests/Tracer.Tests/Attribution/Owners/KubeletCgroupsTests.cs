using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// Cgroup paths as the kubelet's cgroup drivers (pkg/kubelet/cm: kubepods, QoS level, "pod" + UID, systemd's '-'
/// escaped to '_') and the runtimes (containerd's cri-containerd-ID.scope, CRI-O's crio-ID, cri-dockerd's
/// docker-ID.scope; a bare ID with cgroupfs) write them; and paths that are no pod's.
/// </summary>
[UnitTest]
public sealed class KubeletCgroupsTests
{
    private const string Uid = "5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11";
    private const string Escaped = "5f1c7a2e_3b0d_4c58_9a57_0c2f6e1d9b11";
    private const string Id = "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";

    [Theory]
    // systemd driver: BestEffort and Burstable pods under their QoS slice, Guaranteed ones right under kubepods
    [InlineData($"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{Escaped}.slice/cri-containerd-{Id}.scope", Id)]
    [InlineData($"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{Escaped}.slice/crio-{Id}.scope", Id)]
    [InlineData($"/kubepods.slice/kubepods-pod{Escaped}.slice/docker-{Id}.scope", Id)]
    // the kubelet's --cgroup-root (kind: /kubelet), and a process in a cgroup the container made inside its own
    [InlineData($"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{Escaped}.slice/cri-containerd-{Id}.scope/init.scope", Id)]
    // cgroupfs driver: containerd and cri-dockerd name the container by its id, CRI-O with its prefix
    [InlineData($"/kubepods/besteffort/pod{Uid}/{Id}", Id)]
    [InlineData($"/kubepods/burstable/pod{Uid}/crio-{Id}", Id)]
    [InlineData($"/kubepods/pod{Uid}/{Id}", Id)]
    // a cgroup namespace shows the path from the reader's own cgroup
    [InlineData($"/../../kubepods/besteffort/pod{Uid}/{Id}", Id)]
    // the pod's own cgroup, and CRI-O's monitor: the pod's, no container's
    [InlineData($"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{Escaped}.slice", null)]
    [InlineData($"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{Escaped}.slice/crio-conmon-{Id}.scope", null)]
    public void APodsCgroupNamesThePodAndItsContainer(string path, string? container) =>
        Assert.Equal(new PodCgroup(Uid, container), KubeletCgroups.Parse(path));

    [Fact]
    public void AStaticPodsUidIsItsManifestsHash() =>
        Assert.Equal(new PodCgroup("6e7d9a1c2b3f4e5d6c7b8a9f0e1d2c3b", Id),
                     KubeletCgroups.Parse($"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6e7d9a1c2b3f4e5d6c7b8a9f0e1d2c3b.slice/cri-containerd-{Id}.scope"));

    [Theory]
    [InlineData("/")]
    [InlineData("/system.slice/containerd.service")]
    [InlineData("/system.slice/edr-agent.service")]
    [InlineData("/user.slice/user-1000.slice/session-3.scope")]
    [InlineData($"/system.slice/docker-{Id}.scope")] // a container of plain Docker, outside Kubernetes
    [InlineData($"/docker/{Id}")]
    [InlineData("/kubepods.slice")] // the kubelet's root and QoS levels are no pod
    [InlineData("/kubepods/besteffort")]
    // pod-looking names outside the kubelet's root, or not a UID
    [InlineData($"/machine.slice/machine-pod{Escaped}.slice")]
    [InlineData($"/other/pod{Uid}/{Id}")]
    [InlineData($"/kubepods/besteffort/podcast/{Id}")]
    // a systemd slice not inside the parent its name says
    [InlineData($"/kubepods.slice/kubepods-besteffort-pod{Escaped}.slice/cri-containerd-{Id}.scope")]
    public void OtherCgroupsAreNoPods(string path) => Assert.Null(KubeletCgroups.Parse(path));

    [Fact]
    public void TheV2LineIsReported()
    {
        const string cgroup = $"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{Escaped}.slice/cri-containerd-{Id}.scope\n";

        Assert.Equal(cgroup[3..^1], KubeletCgroups.Choose(cgroup));
        Assert.Equal("/system.slice/ssh.service", KubeletCgroups.Choose("0::/system.slice/ssh.service\n"));
    }

    [Fact]
    public void OnAHybridHostAPodsV1CgroupIsReportedOverTheV2Root()
    {
        var cgroup = $"12:memory:/kubepods/besteffort/pod{Uid}/{Id}\n11:cpu,cpuacct:/kubepods/besteffort/pod{Uid}/{Id}\n" +
                     $"1:name=systemd:/kubepods/besteffort/pod{Uid}/{Id}\n0::/\n";

        Assert.Equal($"/kubepods/besteffort/pod{Uid}/{Id}", KubeletCgroups.Choose(cgroup));
    }

    [Fact]
    public void WithoutAPodTheV1SystemdCgroupIsReportedOverTheV2Root() =>
        // as on this project's CI machine (hybrid), for a process of no pod
        Assert.Equal("/system.slice/cron.service",
                     KubeletCgroups.Choose("9:name=systemd:/system.slice/cron.service\n4:memory:/process_api/525d1eb2\n1:cpu:/\n0::/\n"));
}
