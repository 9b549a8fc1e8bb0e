using Tracer.Native;

namespace Tracer.Attribution;

/// <summary>A BPF program attached to a cgroup for egress filtering.</summary>
internal sealed record CgroupProgram(uint Id, string Name, string Cgroup);

/// <summary>
/// The cgroup_skb egress programs of the node, found by asking the kernel (BPF_PROG_QUERY) for each
/// cgroup of the cgroup v2 hierarchy. Used when a drop's reason says a cgroup program denied it.
/// </summary>
internal static class CgroupPrograms
{
    private const int MaxCgroups = 20000;

    public static IReadOnlyList<CgroupProgram> Egress()
    {
        // Without a view of the cgroup tree (a private mount namespace), name the node's cgroup_skb programs.
        if (Cgroup2Mount() is not { } root)
            return [.. LoadedBpfPrograms.OfType(bpf_prog_type.BPF_PROG_TYPE_CGROUP_SKB).Select(p => new CgroupProgram(p.Id, p.Name, "(cgroup unknown)"))];
        var found = new List<CgroupProgram>();
        var pending = new Stack<string>([root]);
        for (var visited = 0; pending.Count > 0 && visited < MaxCgroups; visited++)
        {
            var path = pending.Pop();
            try
            {
                using (var cgroup = Proxy.open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC))
                {
                    var relative = Path.GetRelativePath(root, path);
                    foreach (var id in Proxy.bpf_prog_query(cgroup, bpf_attach_type.BPF_CGROUP_INET_EGRESS))
                        found.Add(new CgroupProgram(id, LoadedBpfPrograms.NameOf(id) ?? "", "/" + (relative == "." ? "" : relative)));
                }
                foreach (var child in Directory.EnumerateDirectories(path))
                    pending.Push(child);
            }
            catch (Exception e) when (e is NativeException or IOException or UnauthorizedAccessException)
            {
                // a cgroup removed while we walk, or not ours to read
            }
        }
        return found;
    }

    /// <summary>Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems).</summary>
    private static string? Cgroup2Mount() => File.ReadLines("/proc/self/mountinfo")
        .Select(line => line.Split(" - "))
        .Where(parts => parts.Length == 2 && parts[1].StartsWith("cgroup2 ", StringComparison.Ordinal))
        .Select(parts => parts[0].Split(' ')[4])
        .FirstOrDefault();
}
