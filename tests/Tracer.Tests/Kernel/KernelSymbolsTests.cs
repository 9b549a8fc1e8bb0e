using System.Text;
using Tracer.Kernel;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Kernel;

[UnitTest]
public sealed class KernelSymbolsTests
{
    private const string Sample = """
        ffffffff81000000 T _text
        ffffffff81a00000 T nft_do_chain
        ffffffff81a00800 t nft_do_chain_ipv4
        ffffffff81b00000 D some_data
        ffffffffc0a01000 t edr_hook	[edr_agent]
        ffffffffc0a01400 t edr_helper	[edr_agent]
        ffffffffc0c00000 t bpf_prog_6deef7357e7b4530_edr_netfilter	[bpf]
        0000000000000000 T hidden_symbol
        """;

    private static KernelSymbols Parse(string kallsyms) => KernelSymbols.Parse(new MemoryStream(Encoding.ASCII.GetBytes(kallsyms)));

    [Fact]
    public void ResolvesAnAddressInsideAFunctionToFunctionAndOffset()
    {
        var symbols = Parse(Sample);

        Assert.Equal("nft_do_chain+0x46f", symbols.Describe(0xffffffff81a0046f));
        Assert.Equal("nft_do_chain_ipv4+0x0", symbols.Describe(0xffffffff81a00800));
    }

    [Fact]
    public void NamesTheModuleOfModuleCode()
    {
        var symbol = Parse(Sample).Resolve(0xffffffffc0a01010)!.Value;

        Assert.Equal("edr_hook", symbol.Name);
        Assert.Equal("edr_agent", symbol.Module);
        Assert.True(symbol.IsModule);
        Assert.Equal("edr_hook+0x10 [edr_agent]", symbol.ToString());
    }

    [Fact]
    public void RecognisesJittedBpfPrograms()
    {
        var symbol = Parse(Sample).Resolve(0xffffffffc0c00020)!.Value;

        Assert.True(symbol.IsBpfProgram);
        Assert.False(symbol.IsModule);
        Assert.Equal("bpf_prog_6deef7357e7b4530_edr_netfilter", symbol.Name);
    }

    [Fact]
    public void SkipsDataSymbolsAndHiddenAddresses()
    {
        var symbols = Parse(Sample);

        Assert.Equal(6, symbols.Count);
        Assert.Equal("nft_do_chain_ipv4+0xff800", symbols.Describe(0xffffffff81b00000)); // data symbol not used
        Assert.Equal("0x10", symbols.Describe(0x10));
    }

    [Fact]
    public void ReadsLinesLongerThanOneReadAndALastLineWithoutNewline()
    {
        // A table as long as a kernel's: lines cross the reader's 64 KiB buffer; the last has no newline.
        var lines = Enumerable.Range(0, 20_000).Select(i => $"{0xffffffff81000000 + (ulong)i * 0x100:x} t function_{i}\t[module_{i % 300}]");
        var symbols = Parse(string.Join('\n', lines));

        Assert.Equal(20_000, symbols.Count);
        Assert.Equal("function_19999+0x10 [module_199]", symbols.Describe(0xffffffff81000000 + 19_999 * 0x100 + 0x10));
        Assert.Equal("function_4681+0x0 [module_181]", symbols.Describe(0xffffffff81000000 + 4681 * 0x100));
        Assert.Equal(0xffffffff81000000 + 12_345 * 0x100, symbols.AddressOf("function_12345"));
        Assert.Equal(0UL, symbols.AddressOf("function_20000"));
    }

    [Fact]
    public void AddressOfPrefersTheKernelImageToAModule()
    {
        var symbols = Parse("""
            ffffffffc0a00000 t nft_do_chain	[nf_tables]
            ffffffff81a00000 T nft_do_chain
            ffffffffc0b00000 t only_in_a_module	[edr_agent]
            """);

        Assert.Equal(0xffffffff81a00000, symbols.AddressOf("nft_do_chain"));
        Assert.Equal(0xffffffffc0b00000, symbols.AddressOf("only_in_a_module"));
    }
}
