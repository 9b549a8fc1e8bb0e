using Tracer.Attribution;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Sessions;

/// <summary>
/// Completes the owners of an interval's records with what only the session knows: the pods. A process owner whose
/// cgroup named a container or pod UID gets that pod's namespace/name, the container's name and the workload, from
/// the pod source (the Kubernetes API's pods of this node, host-network ones included).
/// </summary>
internal static class PodOwners
{
    public static IReadOnlyList<DropRecord> Complete(IReadOnlyList<DropRecord> records, PodSnapshot pods)
    {
        if (!records.Any(r => r.Culprit?.Owner?.Processes is { Count: > 0 }))
            return records; // the common case costs one pass, no copy
        return [.. records.Select(r => r.Culprit is { Owner: { } owner } culprit && Complete(owner, pods) is var completed && !ReferenceEquals(completed, owner)
            ? r with { Culprit = culprit with { Owner = completed } }
            : r)];
    }

    /// <summary>The owner with its pod, container and workload where its first process's container or pod is one Kubernetes named.</summary>
    public static CulpritOwner Complete(CulpritOwner owner, PodSnapshot pods)
    {
        if (owner.Pod is not null || owner.Processes is not [var main, ..])
            return owner;
        // By container id first: a static pod's cgroup carries its manifest's hash, not the API's UID.
        if (main.ContainerId is { } id && pods.WithContainer(id) is var (pod, container))
            return ProcessOwners.WithPod(owner, pod.ToString(), container.Name, pod.Workload, $"container id {id[..12]} in the pod's status, {pods.Origin}");
        if (main.PodUid is { } uid && pods.WithUid(uid) is { } byUid)
            return ProcessOwners.WithPod(owner, byUid.ToString(), null, byUid.Workload, $"pod uid {uid}, {pods.Origin}");
        return owner;
    }
}
