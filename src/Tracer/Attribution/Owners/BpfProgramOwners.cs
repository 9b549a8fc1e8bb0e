using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// The processes that hold a BPF program (its program or link descriptors, /proc/PID/fdinfo), their cgroup and
/// from it the pod and container, and the package of the executable; or, where no process holds it, its pin in
/// bpffs. The answer for a program id is kept for <see cref="NodeQueries.RememberedFor"/>: holders rarely change,
/// and the walks behind it cost a read per descriptor. Pod and workload names are the session's to add
/// (<see cref="WithPod"/>): attribution does not see pods.
/// </summary>
internal static class BpfProgramOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node) =>
        culprit.ProgramId is { } id ? node.Remembered(("bpf-program-owner", id), () => Find(id, node)) : null;

    private static CulpritOwner? Find(uint programId, NodeAnswers node)
    {
        if (node.BpfHolders().TryGetValue(programId, out var holders) && holders.Count > 0)
            return HeldBy(programId, holders, node);
        var pins = node.BpfPins().Where(p => p.Info.ProgramId == programId).ToList();
        if (pins.Count == 0)
            return null;
        var what = pins.Count == 1 ? $"pinned at {pins[0].Path}" : $"pinned at {pins[0].Path} and {pins.Count - 1} more";
        return new CulpritOwner
        {
            Kind = OwnerKind.PinnedProgram, Name = pins[0].Path, PinPath = pins[0].Path, Confidence = CulpritConfidence.Exact,
            Summary = $"BPF program {programId} is {what}; no process holds it (a loader pinned it and exited)",
            Evidence = [.. pins.Select(p => $"{p.Path}: {p.Info}"), $"no process holds program {programId} (/proc/*/fdinfo)"],
        };
    }

    private static CulpritOwner? HeldBy(uint programId, IReadOnlyList<BpfHolder> holders, NodeAnswers node)
    {
        var evidence = holders.Select(h => h.ToString()).ToList();
        var processes = holders.Select(h => h.Pid).Distinct().Order().Select(node.Process).OfType<OwnerProcess>().ToList();
        if (processes.Count == 0)
            return null; // every holder exited since the walk
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
        return owner with { Summary = Summarize(owner) };
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
        return completed with { Summary = Summarize(completed) };
    }

    /// <summary>
    /// "held by process edr-agent (pid 4242, /usr/sbin/edr-agent) in container edr of pod security/edr-agent-x7k2p
    /// (DaemonSet security/edr-agent), package edr-agent 7.1.3 (dpkg)".
    /// </summary>
    private static string Summarize(CulpritOwner owner)
    {
        var processes = owner.Processes ?? [];
        var main = processes[0];
        var held = $"held by process {main.Comm} (pid {main.Pid}{(main.Exe is { } exe ? $", {exe}" : "")})" +
                   (processes.Count > 1 ? $" and {processes.Count - 1} more" : "");
        var where = owner.Pod is { } pod
            ? (owner.Container is { } container ? $" in container {container} of pod {pod}" : $" in pod {pod}") +
              (owner.Workload is { } workload ? $" ({workload})" : "")
            : main.PodUid is { } uid
                ? (main.ContainerId is { } id ? $" in container {id[..12]} of pod uid {uid}" : $" in pod uid {uid}")
                : main.Cgroup is { } cgroup ? $" in cgroup {cgroup}" : "";
        var package = owner.Package is { } p ? $", package {p.Name}{(p.Version is null ? "" : $" {p.Version}")} ({p.Manager})" : "";
        return held + where + package;
    }
}
