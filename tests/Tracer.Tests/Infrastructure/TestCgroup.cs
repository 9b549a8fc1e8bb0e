namespace Tracer.Tests.Infrastructure;

/// <summary>
/// A cgroup v2 of the test's own, under a test-unique directory of the cgroup v2 mount (/sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid hosts). Disposing moves any process still in it to the root and removes
/// every directory it made, deepest first.
/// </summary>
internal sealed class TestCgroup : IDisposable
{
    private readonly string _top;

    private TestCgroup(string top, string relative)
    {
        _top = top;
        Path = System.IO.Path.Join(Root, relative);
        CgroupPath = "/" + relative;
    }

    /// <summary>Where cgroup v2 is mounted, from /proc/self/mountinfo.</summary>
    public static string Root { get; } = File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(" - "))
        .First(p => p.Length == 2 && p[1].StartsWith("cgroup2 ", StringComparison.Ordinal))[0].Split(' ')[4];

    /// <summary>The cgroup's directory.</summary>
    public string Path { get; }

    /// <summary>As /proc/PID/cgroup shows it: relative to the mount.</summary>
    public string CgroupPath { get; }

    /// <summary>A cgroup at ROOT/tracer-test-PID-NAME/<paramref name="below"/> (levels separated by '/').</summary>
    public static TestCgroup Create(string name, string below = "")
    {
        var top = $"tracer-test-{Environment.ProcessId}-{name}";
        var relative = below.Length == 0 ? top : $"{top}/{below}";
        var cgroup = new TestCgroup(top, relative);
        Directory.CreateDirectory(cgroup.Path);
        return cgroup;
    }

    /// <summary>
    /// A cgroup shaped as the kubelet's systemd driver and containerd make one for a container of a BestEffort pod
    /// (pkg/kubelet/cm; containerd's cri-containerd-ID.scope), under a test-unique top.
    /// </summary>
    public static TestCgroup KubeletContainer(string name, string podUid, string containerId) => Create(name,
        $"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{podUid.Replace('-', '_')}.slice/cri-containerd-{containerId}.scope");

    public void Add(int pid) => File.WriteAllText(System.IO.Path.Join(Path, "cgroup.procs"), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose()
    {
        var directories = Directory.EnumerateDirectories(System.IO.Path.Join(Root, _top), "*", SearchOption.AllDirectories)
            .Append(System.IO.Path.Join(Root, _top)).OrderByDescending(d => d.Length);
        foreach (var directory in directories)
        {
            foreach (var pid in File.ReadAllLines(System.IO.Path.Join(directory, "cgroup.procs")))
                File.WriteAllText(System.IO.Path.Join(Root, "cgroup.procs"), pid);
            Directory.Delete(directory);
        }
    }
}
