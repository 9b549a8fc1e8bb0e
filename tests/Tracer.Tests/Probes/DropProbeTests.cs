using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary>The drop probe's load-time sizing (no kernel needed).</summary>
[UnitTest]
public sealed class DropProbeTests
{
    [Theory]
    [InlineData(8192u, 2, 256u)] // this VM: the cap
    [InlineData(8192u, 32, 64u)] // 32 CPUs together still give one pod at most a quarter of the flow map
    [InlineData(8192u, 4096, 1u)] // never none
    public void ACoarseKeysOwnFlowsShrinkWithTheCpuCount(uint flowMap, int cpus, uint expected)
    {
        var flows = DropProbe.FlowsPerCoarseKey(flowMap, cpus);

        Assert.Equal(expected, flows);
        Assert.True(flows * (uint)cpus <= Math.Max(flowMap / 4, (uint)cpus));
        Assert.True(flows <= DropEvent.TRACER_MAX_FLOWS_PER_COARSE_KEY);
    }
}
