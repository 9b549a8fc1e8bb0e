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

    [Fact]
    public void TheIdNamesKindAndObject_NeverAnAddressOrProgramId()
    {
        Assert.Equal("nftables:inet/filter/output#12", Rule.Id);
        Assert.Equal("nftables:inet/filter/output:policy", (Rule with { Kind = CulpritKind.NftablesPolicy, Handle = null }).Id);
        Assert.Equal("iptables:filter/INPUT#3", new Culprit
        {
            Kind = CulpritKind.IptablesRule, Summary = "s", Confidence = CulpritConfidence.Inferred, Table = "filter", Chain = "INPUT", RuleNumber = 3,
        }.Id);
        var hook = new Culprit { Kind = CulpritKind.NetfilterHook, Summary = "s", Confidence = CulpritConfidence.Exact, Family = "ipv4", Hook = "OUTPUT", Priority = -75 };
        Assert.Equal("module:edr_agent:edr_local_out", (hook with { Function = "edr_local_out", Module = "edr_agent" }).Id);
        Assert.Equal("hook:nf_hook_slow_helper", (hook with { Function = "nf_hook_slow_helper" }).Id);
        Assert.Equal("hook:ipv4/OUTPUT@-75", hook.Id);
        Assert.Equal("hook:ipv4/OUTPUT", (hook with { Priority = null }).Id); // one of several hooks there, not yet told apart
        Assert.Equal("hook:unknown", (hook with { Family = null, Hook = null, Priority = null }).Id);
        var program = new Culprit { Kind = CulpritKind.BpfProgram, Summary = "s", Confidence = CulpritConfidence.Exact, ProgramId = 4242, ProgramName = "edr_portscan" };
        Assert.Equal("bpf:edr_portscan", program.Id);
        Assert.Equal(program.Id, (program with { ProgramId = 4243 }).Id); // reloaded: the same series
        Assert.Equal("lsm:selinux", new Culprit { Kind = CulpritKind.Lsm, Summary = "s", Confidence = CulpritConfidence.Exact, LsmName = CulpritLsm.Selinux }.Id);
        Assert.Equal("stack:tcp_v4_rcv", new Culprit { Kind = CulpritKind.KernelStack, Summary = "s", Confidence = CulpritConfidence.Inferred, Function = "tcp_v4_rcv" }.Id);
        Assert.Equal("module:edr_agent", new Culprit { Kind = CulpritKind.KernelModule, Summary = "s", Confidence = CulpritConfidence.Inferred, Module = "edr_agent" }.Id);
    }
}
