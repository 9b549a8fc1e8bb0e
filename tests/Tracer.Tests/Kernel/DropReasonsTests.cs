using Tracer.Kernel;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

[UnitTest]
public sealed class DropReasonsTests
{
    [Fact]
    public void StripsThePrefixAndKeepsNonDropNames()
    {
        var reasons = new DropReasons(new Dictionary<long, string>
        {
            [0] = "SKB_NOT_DROPPED_YET", [1] = "SKB_CONSUMED", [7] = "SKB_DROP_REASON_NETFILTER_DROP",
        });

        Assert.Equal("NETFILTER_DROP", reasons.Name(7));
        Assert.Equal("SKB_CONSUMED", reasons.Name(1));
        Assert.Equal(7u, reasons.Value("NETFILTER_DROP"));
        Assert.Null(reasons.Value("NO_SUCH_REASON"));
    }

    [Fact]
    public void UnknownAndSubsystemReasonsAreShownAsNumbers()
    {
        var reasons = new DropReasons(new Dictionary<long, string> { [2] = "SKB_DROP_REASON_NOT_SPECIFIED" });

        Assert.Equal("REASON_99", reasons.Name(99));
        Assert.Equal("SUBSYSTEM_1_5", reasons.Name(0x10005));
    }

    [Fact]
    public void AKernelWithoutDropReasonsSaysSo()
    {
        var reasons = new DropReasons(new Dictionary<long, string>());

        Assert.False(reasons.Available);
        Assert.Equal("UNKNOWN", reasons.Name(3));
    }
}
