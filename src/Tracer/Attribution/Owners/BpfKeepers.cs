using Tracer.Native;

namespace Tracer.Attribution;

/// <summary>A descriptor that keeps a BPF program loaded: process <paramref name="Pid"/>'s fd <paramref name="Fd"/>.</summary>
internal sealed record BpfHolder(int Pid, int Fd, BpfFdInfo Info)
{
    public override string ToString() => $"/proc/{Pid}/fdinfo/{Fd}: {Info}";
}

/// <summary>A BPF program or link pinned in bpffs; <see cref="Mount"/>: the bpffs mount it is in, where known.</summary>
internal sealed record BpfPin(string Path, BpfFdInfo Info)
{
    public string? Mount { get; init; }
}

/// <summary>
/// Who keeps BPF programs loaded, from the kernel's own bookkeeping: the program and link descriptors of every
/// process (/proc/PID/fd names them anon_inode:bpf-prog and anon_inode:bpf_link, their fdinfo the program id),
/// and the pins in every bpffs mount. bpftool's "pids" asks a BPF iterator instead, a tracing program that
/// kernels refusing fentry refuse too. Both walks cost a read per descriptor or pin: callers cache the answers.
/// </summary>
internal static class BpfKeepers
{
    private const int MaxPins = 20000;

    /// <summary>Every process's BPF program and link descriptors, by the program they hold.</summary>
    public static IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>> Processes() => Processes("/proc");

    internal static IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>> Processes(string proc)
    {
        var found = new Dictionary<uint, List<BpfHolder>>();
        foreach (var process in Directory.EnumerateDirectories(proc))
        {
            if (!int.TryParse(Path.GetFileName(process), out var pid))
                continue;
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Join(process, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is not ("anon_inode:bpf-prog" or "anon_inode:bpf_link") ||
                        !int.TryParse(Path.GetFileName(fd), out var number) ||
                        BpfFdInfo.Parse(File.ReadAllText(Path.Join(process, "fdinfo", Path.GetFileName(fd)))) is not { } info)
                        continue;
                    if (!found.TryGetValue(info.ProgramId, out var holders))
                        found[info.ProgramId] = holders = [];
                    holders.Add(new BpfHolder(pid, number, info));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone meanwhile, a descriptor closed, or not ours to read
            }
        }
        return found.ToDictionary(p => p.Key, p => (IReadOnlyList<BpfHolder>)p.Value);
    }

    /// <summary>The programs and links pinned in the bpffs mounts this process sees (/sys/fs/bpf, and any other).</summary>
    public static IReadOnlyList<BpfPin> Pins()
    {
        var found = new List<BpfPin>();
        var visited = 0;
        foreach (var mount in BpffsMounts())
        {
            var pending = new Stack<string>([mount]);
            while (pending.Count > 0 && visited < MaxPins)
            {
                try
                {
                    var directory = pending.Pop();
                    foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
                    {
                        if (Directory.Exists(entry))
                        {
                            pending.Push(entry);
                            continue;
                        }
                        if (++visited > MaxPins)
                            break;
                        using var fd = Proxy.bpf_obj_get(entry);
                        if (fd is not null && BpfFdInfo.Parse(File.ReadAllText($"/proc/self/fdinfo/{fd.DangerousGetHandle()}")) is { } info)
                            found.Add(new BpfPin(entry, info) { Mount = mount });
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // removed while we walk, or not ours to read
                }
            }
        }
        return found;
    }

    /// <summary>Mount points of bpffs, from /proc/self/mountinfo (mount point is field 5, the type follows " - ").</summary>
    private static IEnumerable<string> BpffsMounts() => File.ReadLines("/proc/self/mountinfo")
        .Select(line => line.Split(" - "))
        .Where(parts => parts.Length == 2 && parts[1].StartsWith("bpf ", StringComparison.Ordinal))
        .Select(parts => parts[0].Split(' ')[4].Replace("\\040", " ", StringComparison.Ordinal))
        .Distinct();
}
