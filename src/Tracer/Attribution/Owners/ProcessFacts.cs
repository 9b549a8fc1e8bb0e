using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>A process as /proc shows it: comm, executable, command line, cgroup, and the pod and container that cgroup is.</summary>
internal static class ProcessFacts
{
    /// <summary>Null when the process is gone.</summary>
    public static OwnerProcess? Read(int pid) => Read(pid, "/proc");

    internal static OwnerProcess? Read(int pid, string proc)
    {
        var directory = Path.Join(proc, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var comm = ReadOrNull(Path.Join(directory, "comm"))?.TrimEnd('\n');
        if (comm is null)
            return null;
        var cmdline = ReadOrNull(Path.Join(directory, "cmdline"))?.TrimEnd('\0').Replace('\0', ' ');
        var cgroup = ReadOrNull(Path.Join(directory, "cgroup")) is { } text ? KubeletCgroups.Choose(text) : null;
        var pod = cgroup is null ? null : KubeletCgroups.Parse(cgroup);
        return new OwnerProcess(pid, comm, Executable(directory), cmdline is { Length: > 0 } ? cmdline : null, cgroup)
        {
            PodUid = pod?.PodUid,
            ContainerId = pod?.ContainerId,
        };
    }

    /// <summary>Whether the process is in PID 1's mount namespace (sees the host's files), not a container's own.</summary>
    public static bool SeesHostFiles(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/mnt").LinkTarget is { } mine && mine == new FileInfo("/proc/1/ns/mnt").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The executable as the process's own mount namespace names it; a replaced file keeps its path, without " (deleted)".</summary>
    private static string? Executable(string directory)
    {
        try
        {
            var target = new FileInfo(Path.Join(directory, "exe")).LinkTarget;
            return target?.EndsWith(" (deleted)", StringComparison.Ordinal) == true ? target[..^" (deleted)".Length] : target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // a kernel thread, or gone
        }
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
