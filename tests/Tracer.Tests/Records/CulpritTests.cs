using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Records;

[UnitTest]
public sealed class CulpritTests
{
    private static readonly Culprit Rule = new()
    {
        Kind = CulpritKind.NftablesRule, Summary = "nftables rule inet filter output handle 12", Confidence = CulpritConfidence.Exact,
        Family = "inet", Hook = "OUTPUT", Priority = 0, Table = "filter", Chain = "output", Handle = 12, Rule = "udp dport 8885 drop",
    };

    [Fact]
    public void TheSameRuleNamedAnotherWayIsTheSameCulprit()
    {
        var recalled = Rule with { Confidence = CulpritConfidence.Inferred, Summary = "as before", Evidence = ["named at 14:02:11 (exact)"], Rule = null };
        Assert.Equal(Rule.Identity, recalled.Identity);
    }

    [Fact]
    public void AnotherRuleHookOrKindIsAnotherCulprit()
    {
        Assert.NotEqual(Rule.Identity, (Rule with { Handle = 13 }).Identity);
        Assert.NotEqual(Rule.Identity, (Rule with { Chain = "input" }).Identity);
        Assert.NotEqual(Rule.Identity, (Rule with { Priority = -75 }).Identity);
        Assert.NotEqual(Rule.Identity, (Rule with { Kind = CulpritKind.NftablesPolicy }).Identity);
    }
}
