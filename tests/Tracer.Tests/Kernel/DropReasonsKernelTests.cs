using System.Text.Json;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

/// <summary>The drop reasons read from the running kernel's BTF.</summary>
[KernelTest]
public sealed class DropReasonsKernelTests
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
}
