using System.Text.RegularExpressions;

namespace Tracer.Attribution;

/// <summary>A pod's cgroup, and the container's inside it where the path reaches one.</summary>
internal sealed record PodCgroup(string PodUid, string? ContainerId);

/// <summary>
/// The pod and container a process runs in, from its cgroup path, as the kubelet names pod cgroups and the
/// runtimes name container cgroups under them. The kubelet (pkg/kubelet/cm): a root "kubepods" (under the
/// --cgroup-root, if any), a QoS level "burstable" or "besteffort" (none for Guaranteed pods), then "pod" + the
/// pod's UID; with the systemd driver every level is a slice named after the whole chain, '-' in a name
/// escaped to '_': <c>/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod&lt;uid_&gt;.slice</c>; with
/// cgroupfs plain directories: <c>/kubepods/besteffort/pod&lt;uid&gt;</c>. The runtimes: containerd and cri-dockerd
/// put a container in <c>cri-containerd-&lt;id&gt;.scope</c> / <c>docker-&lt;id&gt;.scope</c> (systemd) or
/// <c>&lt;id&gt;</c> (cgroupfs); CRI-O in <c>crio-&lt;id&gt;.scope</c> or <c>crio-&lt;id&gt;</c> (its monitor, conmon, in
/// <c>crio-conmon-&lt;id&gt;</c>: a pod's, not a container's). Anything else (system.slice services, user sessions,
/// a container outside Kubernetes) is no pod's.
/// </summary>
internal static partial class KubeletCgroups
{
    /// <summary>
    /// The cgroup to report from /proc/PID/cgroup: a pod's (the v2 line's first), else the v2 line's, else the v1
    /// systemd hierarchy's. On hybrid hosts a process can sit at the v2 root while its v1 cgroups name the pod.
    /// </summary>
    public static string? Choose(string procCgroup)
    {
        string? unified = null, pod = null, systemd = null, first = null;
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // hierarchy-id:controllers:path; the v2 hierarchy is "0::path"
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
                continue;
            var path = parts[2];
            first ??= path;
            if (parts[0] == "0" && parts[1].Length == 0)
                unified = path;
            else if (parts[1] == "name=systemd")
                systemd = path;
            if (Parse(path) is not null && (pod is null || path == unified))
                pod = path;
        }
        return pod ?? (unified is not null && unified != "/" ? unified : systemd ?? unified ?? first);
    }

    /// <summary>The pod (and container) a cgroup path is the kubelet's for; null for any other cgroup.</summary>
    public static PodCgroup? Parse(string path)
    {
        var levels = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 1; i < levels.Length; i++)
        {
            if (PodUid(levels, i) is not { } uid)
                continue;
            var container = i + 1 < levels.Length ? ContainerCgroup().Match(levels[i + 1]) : Match.Empty;
            return new PodCgroup(uid, container.Success ? container.Groups["id"].Value : null);
        }
        return null;
    }

    /// <summary>The pod UID if level <paramref name="i"/> is a pod's cgroup under the kubelet's root and QoS levels.</summary>
    private static string? PodUid(string[] levels, int i)
    {
        var systemd = SystemdPod().Match(levels[i]);
        if (systemd.Success)
        {
            // kubepods-besteffort-pod<uid>.slice lies in kubepods-besteffort.slice, itself a kubepods slice or QoS slice.
            var parent = systemd.Groups["parent"].Value;
            var chain = parent.Split('-');
            var underKubepods = chain[^1] == "kubepods" || (chain.Length > 1 && chain[^2] == "kubepods" && chain[^1] is "burstable" or "besteffort");
            return underKubepods && levels[i - 1] == parent + ".slice" ? Uid(systemd.Groups["uid"].Value.Replace('_', '-')) : null;
        }
        var cgroupfs = CgroupfsPod().Match(levels[i]);
        if (!cgroupfs.Success)
            return null;
        var underRoot = levels[i - 1] == "kubepods" || (i > 1 && levels[i - 2] == "kubepods" && levels[i - 1] is "burstable" or "besteffort");
        return underRoot ? Uid(cgroupfs.Groups["uid"].Value) : null;
    }

    /// <summary>A pod UID: a UUID, or a static pod's 32 hex digits (the kubelet's hash of its manifest).</summary>
    private static string? Uid(string text) => PodUidShape().IsMatch(text) ? text : null;

    [GeneratedRegex(@"^(?<parent>.+)-pod(?<uid>[0-9a-f_]+)\.slice$")]
    private static partial Regex SystemdPod();

    [GeneratedRegex(@"^pod(?<uid>[0-9a-f-]+)$")]
    private static partial Regex CgroupfsPod();

    [GeneratedRegex(@"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$")]
    private static partial Regex PodUidShape();

    [GeneratedRegex(@"^(?:(?:cri-containerd|crio|docker)-(?<id>[0-9a-f]{64})\.scope|(?:crio-)?(?<id>[0-9a-f]{64}))$")]
    private static partial Regex ContainerCgroup();
}
