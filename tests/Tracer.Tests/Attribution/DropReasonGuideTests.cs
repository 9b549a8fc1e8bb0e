using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Native;

namespace Tracer.Tests.Attribution;

public sealed class DropReasonGuideTests
{
    [Fact]
    public void EveryGuideEntryNamesAReasonThisKernelKnows()
    {
        using var btf = KernelBtf.Load();
        var reasons = DropReasons.FromKernel(btf);

        var unknown = DropReasonGuide.Embedded().Reasons.Where(r => reasons.Value(r) is null).ToList();

        Assert.Empty(unknown);
    }

    [Theory]
    [InlineData("IP_RPFILTER", "rp_filter")]
    [InlineData("NO_SOCKET", "listening")]
    [InlineData("NEIGH_FAILED", "proxy_arp")]
    public void TheCommonNodeToPodProblemsSayWhatToCheck(string reason, string mentioned)
    {
        var entry = DropReasonGuide.Embedded().Lookup(reason);

        Assert.NotNull(entry);
        Assert.Contains(mentioned, entry.Value.Check + entry.Value.Explanation, StringComparison.Ordinal);
    }
}
