using Tracer.Kernel;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

/// <summary>The running kernel's symbols (/proc/kallsyms shows their addresses to root only).</summary>
[KernelTest]
public sealed class KernelSymbolsKernelTests
{
    [Fact]
    public void TheRunningKernelsSymbolsIncludeTheNetfilterCore()
    {
        var symbols = KernelSymbols.Load();
        var kallsyms = File.ReadLines(KernelSymbols.DefaultPath)
            .Select(l => l.Split(' '))
            .First(p => p.Length >= 3 && p[2] == "nf_hook_slow");
        var address = ulong.Parse(kallsyms[0], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

        Assert.Equal("nf_hook_slow+0x8", symbols.Describe(address + 8));
    }
}
