using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

[UnitTest]
public sealed class ModuleTaintsTests
{
    /// <summary>The letters of kernel/panic.c's taint_flags that apply to modules, each in words.</summary>
    [Theory]
    [InlineData("O", "out-of-tree")]
    [InlineData("E", "unsigned")]
    [InlineData("P", "proprietary license")]
    [InlineData("F", "force-loaded")]
    [InlineData("C", "staging")]
    [InlineData("K", "live patch")]
    [InlineData("X", "auxiliary (distribution-defined)")]
    [InlineData("T", "struct randomization")]
    [InlineData("N", "in-kernel test")]
    [InlineData("J", "fwctl debug operation")]
    public void EachModuleTaintLetterIsSpelledOut(string letter, string words) => Assert.Equal([words], ModuleTaints.Spell(letter));

    [Fact]
    public void AModulesLettersAreSpelledInTheirOrder() => Assert.Equal(["proprietary license", "out-of-tree", "unsigned"], ModuleTaints.Spell("POE\n"));

    [Fact]
    public void NoTaintIsNoWords() => Assert.Empty(ModuleTaints.Spell(""));

    /// <summary>A letter of a later kernel is kept as it is, not guessed.</summary>
    [Fact]
    public void AnUnknownLetterIsNotGuessed() => Assert.Equal(["out-of-tree", "taint Z"], ModuleTaints.Spell("OZ"));
}
