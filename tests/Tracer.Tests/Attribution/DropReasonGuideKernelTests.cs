using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>The guide against the drop reasons of the running kernel (its BTF).</summary>
[KernelTest]
public sealed class DropReasonGuideKernelTests
{
    [Fact]
    public void EveryGuideEntryNamesAReasonThisKernelKnows()
    {
        using var btf = KernelBtf.Load();
        var reasons = DropReasons.FromKernel(btf);

        var unknown = DropReasonGuide.Embedded().Reasons.Where(r => reasons.Value(r) is null).ToList();

        Assert.Empty(unknown);
    }
}
