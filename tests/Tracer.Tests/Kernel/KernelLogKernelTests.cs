using Tracer.Kernel;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

/// <summary>The kernel log of this machine, read without blocking: every record there, up to the newest, then it stops.</summary>
[KernelTest]
public sealed class KernelLogKernelTests
{
    [Fact]
    public void TheWholeLogIsReadAndTheReadEnds_ARecentWindowHoldsNoOlderRecords()
    {
        var all = KernelLog.Recent(TimeSpan.FromDays(3650));
        var dmesg = Shell.Check("dmesg", "--notime").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(all);
        // The same records dmesg prints (it reads /dev/kmsg too); the newest may have arrived in between.
        Assert.Contains(dmesg[0].Trim(), all.Select(m => m.Trim()));
        Assert.True(KernelLog.Recent(TimeSpan.FromMilliseconds(1)).Count < all.Count);
    }
}
