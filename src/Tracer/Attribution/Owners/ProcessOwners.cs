using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// An owner that is a set of processes (those holding a BPF program, the listener of an NFQUEUE): their comm, executable,
/// cgroup and from it the pod and container, and the package of the first one's executable. Pod and workload names are
/// the session's to add (<see cref="WithPod"/>): attribution does not see pods.
/// </summary>
internal static class ProcessOwners
{
    /// <summary>
    /// The owner made of <paramref name="pids"/>, its summary "<paramref name="lead"/> process …"; null when all of them
    /// exited since they were found. <paramref name="evidence"/> says how they were found.
    /// </summary>
    public static CulpritOwner? Of(IEnumerable<int> pids, string lead, List<string> evidence, NodeAnswers node)
    {
        var processes = pids.Distinct().Order().Select(node.Process).OfType<OwnerProcess>().ToList();
        if (processes.Count == 0)
            return null;
        var main = processes[0];
        foreach (var process in processes.Where(p => p.Cgroup is not null))
        {
            var pod = process.PodUid is { } uid ? $" → pod uid {uid}" + (process.ContainerId is { } c ? $", container {c}" : "") : "";
            evidence.Add($"/proc/{process.Pid}/cgroup: {process.Cgroup}{pod}");
        }
        OwnerPackage? package = null;
        if (main.Exe is { } exe)
        {
            var root = $"/proc/{main.Pid}/root";
            package = node.PackageOwning(exe, root);
            var files = node.SeesHostFiles(main.Pid) ? "the host's files" : "the files of its own mount namespace: its image's, in a container";
            evidence.Add(package is { } p
                ? $"{exe} is in package {p.Name} {p.Version} ({p.Manager} database under {root}, {files})"
                : $"no package database under {root} ({files}) lists {exe}");
        }
        var owner = new CulpritOwner
        {
            Kind = OwnerKind.Process, Name = main.Exe ?? main.Comm, Processes = processes, Package = package,
            Confidence = CulpritConfidence.Exact, Evidence = evidence, Summary = "",
        };
        return owner with { Summary = $"{lead} {Describe(owner)}" };
    }

    /// <summary>
    /// The owner completed with what Kubernetes says of its processes' pod (namespace/name), container (name) and
    /// workload ("DaemonSet security/edr-agent"); <paramref name="source"/> says where that came from, for the evidence.
    /// </summary>
    public static CulpritOwner WithPod(CulpritOwner owner, string pod, string? container, string? workload, string source)
    {
        var completed = owner with
        {
            Pod = pod, Container = container, Workload = workload,
            Evidence = [.. owner.Evidence, $"pod {pod}{(container is null ? "" : $", container {container}")} ({source})"],
        };
        // The lead before the processes (what they do) stays; their description gains the pod.
        return completed with { Summary = owner.Summary.Replace(Describe(owner), Describe(completed), StringComparison.Ordinal) };
    }

    /// <summary>
    /// "process edr-agent (pid 4242, /usr/sbin/edr-agent) in container edr of pod security/edr-agent-x7k2p
    /// (DaemonSet security/edr-agent), package edr-agent 7.1.3 (dpkg)".
    /// </summary>
    private static string Describe(CulpritOwner owner)
    {
        var processes = owner.Processes ?? [];
        var main = processes[0];
        var which = $"process {main.Comm} (pid {main.Pid}{(main.Exe is { } exe ? $", {exe}" : "")})" +
                    (processes.Count > 1 ? $" and {processes.Count - 1} more" : "");
        var where = owner.Pod is { } pod
            ? (owner.Container is { } container ? $" in container {container} of pod {pod}" : $" in pod {pod}") +
              (owner.Workload is { } workload ? $" ({workload})" : "")
            : main.PodUid is { } uid
                ? (main.ContainerId is { } id ? $" in container {id[..12]} of pod uid {uid}" : $" in pod uid {uid}")
                : main.Cgroup is { } cgroup ? $" in cgroup {cgroup}" : "";
        var package = owner.Package is { } p ? $", package {p.Name}{(p.Version is null ? "" : $" {p.Version}")} ({p.Manager})" : "";
        return which + where + package;
    }
}
