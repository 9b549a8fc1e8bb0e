using Tracer.Attribution;
using Xunit;

namespace Tracer.Tests.Attribution;

/// <summary>Tier selection: the status line names the strongest tier the kernel allowed (the kernel matrix shows each for real).</summary>
public sealed class AttributionPipelineTests
{
    [Theory]
    [InlineData(false, false, "", "location")]
    [InlineData(true, false, "", "hook tables")]
    [InlineData(true, true, "", "sentinels (on demand")]
    [InlineData(true, false, "kprobes on 2", "exact (verdicts of foreign hook functions observed: kprobes on 2)")]
    [InlineData(true, true, "fexit on 1", "exact (verdicts of foreign hook functions observed: fexit on 1; others bracketed by sentinels)")]
    public void TheStrongestTierTheKernelAllowedIsNamed(bool hookTables, bool sentinels, string observedWith, string expected)
    {
        Assert.StartsWith(expected, AttributionPipeline.DescribeTier(hookTables, sentinels, sentinelsEverywhere: false, observedWith));
    }

    [Fact]
    public void WithoutHookTablesNothingElseCounts()
    {
        Assert.Equal("location", AttributionPipeline.DescribeTier(false, true, true, "fexit on 3"));
    }
}
