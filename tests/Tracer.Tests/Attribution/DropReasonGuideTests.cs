using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

[UnitTest]
public sealed class DropReasonGuideTests
{
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

    [Fact]
    public void EveryReasonImpliedByALocationIsExplained()
    {
        var guide = DropReasonGuide.Embedded();

        Assert.NotEmpty(guide.ImpliedReasons);
        Assert.All(guide.ImpliedReasons, reason => Assert.NotNull(guide.Lookup(reason)));
    }

    /// <summary>5.10 has no reasons: the kernel matrix's bullseye guest is where this happens for real.</summary>
    [Fact]
    public void WithoutReasonsANetfilterDropIsRecognisedByItsLocation()
    {
        var guide = DropReasonGuide.Embedded();

        Assert.Equal("NETFILTER_DROP", guide.ImpliedBy("nf_hook_slow"));
        Assert.Equal("NO_SOCKET", guide.ImpliedBy("__udp4_lib_rcv"));
        Assert.Null(guide.ImpliedBy("kfree_skb_list"));
    }
}
