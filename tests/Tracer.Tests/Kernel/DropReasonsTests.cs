using System.Text.Json;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

public sealed class DropReasonsTests
{
    [Fact]
    public void NamesMatchWhatBpftoolReadsFromTheKernelsBtf()
    {
        // An independent reader of the same BTF: bpftool's own dump of enum skb_drop_reason.
        using var dump = JsonDocument.Parse(Shell.Check("bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "--json"));
        var enumerators = dump.RootElement.GetProperty("types").EnumerateArray()
            .First(t => t.GetProperty("kind").GetString() == "ENUM" && t.GetProperty("name").GetString() == "skb_drop_reason")
            .GetProperty("values").EnumerateArray()
            .ToDictionary(v => (uint)v.GetProperty("val").GetUInt64(), v => v.GetProperty("name").GetString()!); // bpftool prints u64

        using var btf = KernelBtf.Load();
        var reasons = DropReasons.FromKernel(btf);

        Assert.True(reasons.Available);
        Assert.Equal(enumerators.Count, reasons.Count);
        foreach (var (value, name) in enumerators)
            Assert.Equal(name.Replace("SKB_DROP_REASON_", "", StringComparison.Ordinal), reasons.Name(value));
    }

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
