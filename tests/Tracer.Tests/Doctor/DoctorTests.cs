using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Doctor;

/// <summary>
/// doctor tries every program type on the real kernel. On the machines this project is built on
/// (see shared/docs/environment.md) fentry, fexit and BPF-LSM are refused and netfilter links work.
/// </summary>
public sealed class DoctorTests
{
    [Fact]
    public void ReportsWhatThisKernelAllowsByTryingIt()
    {
        // A private mount namespace with tracefs, so the classic tracepoint can attach without
        // mounting anything on the machine itself; it disappears with the process.
        var json = Shell.Check("unshare", "--mount", "--propagation", "private", "sh", "-c",
            $"mount -t tracefs nodev /sys/kernel/tracing && exec {RepositoryPaths.TracerExecutable} doctor --json");
        using var doctor = JsonDocument.Parse(json);
        var features = doctor.RootElement.GetProperty("features");
        bool Works(string name) => features.GetProperty(name).GetProperty("works").GetBoolean();

        Assert.True(doctor.RootElement.GetProperty("btf").GetBoolean());
        Assert.True(doctor.RootElement.GetProperty("tracefs").GetBoolean());
        Assert.True(Works("tracepoint"));
        Assert.True(Works("tp_btf"));
        Assert.True(Works("raw_tp"));
        Assert.True(Works("netfilter_link"));
        foreach (var refused in new[] { "fentry", "fexit", "lsm" })
        {
            Assert.False(features.GetProperty(refused).GetProperty("loads").GetBoolean(), refused);
            Assert.Contains("EPERM", features.GetProperty(refused).GetProperty("error").GetString());
        }
        Assert.False(Works("kprobe")); // this kernel is built without kprobes
        Assert.Contains(doctor.RootElement.GetProperty("implications").EnumerateArray(),
                        i => i.GetString()!.Contains("bracketed", StringComparison.Ordinal));
    }

    [Fact]
    public void TheNetfilterProbeLeavesNoLinkBehind()
    {
        var doctor = JsonDocument.Parse(Shell.Check(RepositoryPaths.TracerExecutable, "doctor", "--json"));
        Assert.True(doctor.RootElement.GetProperty("features").GetProperty("netfilter_link").GetProperty("attaches").GetBoolean());

        // A link left behind would keep its program loaded; the kernel frees a released one after a grace period.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Shell.Check("bpftool", "prog", "show").Contains("probe_netfilter", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            Thread.Sleep(100);
        Assert.DoesNotContain("probe_netfilter", Shell.Check("bpftool", "prog", "show"));
    }
}
