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

    [Fact]
    public void ResolvesAnAddressInsideAFunctionToFunctionAndOffset()
    {
        var symbols = KernelSymbols.Parse(new StringReader(Sample));

        Assert.Equal("nft_do_chain+0x46f", symbols.Describe(0xffffffff81a0046f));
        Assert.Equal("nft_do_chain_ipv4+0x0", symbols.Describe(0xffffffff81a00800));
    }

    [Fact]
    public void NamesTheModuleOfModuleCode()
    {
        var symbol = KernelSymbols.Parse(new StringReader(Sample)).Resolve(0xffffffffc0a01010)!.Value;

        Assert.Equal("edr_hook", symbol.Name);
        Assert.Equal("edr_agent", symbol.Module);
        Assert.True(symbol.IsModule);
        Assert.Equal("edr_hook+0x10 [edr_agent]", symbol.ToString());
    }

    [Fact]
    public void RecognisesJittedBpfPrograms()
    {
        var symbol = KernelSymbols.Parse(new StringReader(Sample)).Resolve(0xffffffffc0c00020)!.Value;

        Assert.True(symbol.IsBpfProgram);
        Assert.False(symbol.IsModule);
        Assert.Equal("bpf_prog_6deef7357e7b4530_edr_netfilter", symbol.Name);
    }

    [Fact]
    public void SkipsDataSymbolsAndHiddenAddresses()
    {
        var symbols = KernelSymbols.Parse(new StringReader(Sample));

        Assert.Equal(6, symbols.Count);
        Assert.Equal("nft_do_chain_ipv4+0xff800", symbols.Describe(0xffffffff81b00000)); // data symbol not used
        Assert.Equal("0x10", symbols.Describe(0x10));
    }
}
