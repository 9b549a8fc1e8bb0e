using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>Tier selection: the status line names the strongest tier the kernel allowed (the kernel matrix shows each for real).</summary>
[UnitTest]
public sealed class AttributionPipelineTests
{
    [Theory]
    [InlineData(false, false, "", "location")]
    [InlineData(true, false, "", "hook tables")]
    [InlineData(true, true, "", "sentinels (every netfilter hook point")]
    [InlineData(true, false, "kprobes on 2", "exact (verdicts of foreign hook functions observed: kprobes on 2)")]
    [InlineData(true, true, "fexit on 1", "exact (verdicts of foreign hook functions observed: fexit on 1; others bracketed by sentinels)")]
    public void ArmedAlwaysTheStrongestTierTheKernelAllowedIsNamed(bool hookTables, bool sentinels, string observedWith, string expected)
    {
        Assert.StartsWith(expected, AttributionPipeline.DescribeTier(hookTables, sentinels, Arming.Always, observedWith));
    }

    [Theory]
    [InlineData(true, "on demand (where netfilter drops are unexplained: nftables trace, sentinels, verdict observers;")]
    [InlineData(false, "on demand (where netfilter drops are unexplained: nftables trace, verdict observers where the kernel allows;")]
    public void OnDemandTheStatusLineSaysWhatIsArmedWhere(bool sentinels, string expected)
    {
        Assert.StartsWith(expected, AttributionPipeline.DescribeTier(true, sentinels, Arming.OnDemand, ""));
    }

    [Fact]
    public void WithoutHookTablesNothingElseCounts()
    {
        Assert.Equal("location", AttributionPipeline.DescribeTier(false, true, Arming.Always, "fexit on 3"));
    }
}
