using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Records;

/// <summary>The next step names the owner to act on when there is one, and the kernel object otherwise.</summary>
[UnitTest]
public sealed class CulpritAdviceTests
{
    private static readonly Culprit RejectRule = new()
    {
        Kind = CulpritKind.IptablesRule, Confidence = CulpritConfidence.Exact, Summary = "dropped by iptables rule", Family = "ip", Table = "filter",
        Chain = "KUBE-SERVICES", Handle = 12,
    };

    [Fact]
    public void WithoutAnOwner_TheRuleIsWhereToLook()
    {
        Assert.Contains("KUBE-SERVICES", RejectRule.NextStep());
        Assert.Equal(RejectRule.Summary, RejectRule.Sentence);
    }

    [Fact]
    public void AServiceWithoutEndpoints_IsToldToGetThem()
    {
        var culprit = RejectRule with
        {
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.Service, Name = "shop/web:8080", Namespace = "shop", Confidence = CulpritConfidence.Exact,
                Summary = "Service shop/web:8080 has no ready endpoints",
            },
        };
        var step = culprit.NextStep();
        Assert.Contains("kubectl -n shop get endpointslices -l kubernetes.io/service-name=web", step);
        Assert.Contains("shop/web:8080 has no ready endpoints", culprit.Sentence);
        Assert.Equal("service:shop/web:8080", culprit.OwnerId);
    }

    [Fact]
    public void AModuleOrAnAgent_NamesItsPackageToContact()
    {
        var module = new Culprit
        {
            Kind = CulpritKind.NetfilterHook, Confidence = CulpritConfidence.Exact, Summary = "dropped by edr_local_out", Module = "edr_agent", Function = "edr_local_out",
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.KernelModule, Name = "edr_agent", Confidence = CulpritConfidence.Inferred, Summary = "a third-party kernel module (edr_agent 7.1.3)",
                Package = new OwnerPackage("dpkg", "edr-agent-dkms", "7.1.3"), Module = new ModuleFacts { Author = "Example EDR" },
            },
        };
        Assert.Contains("edr-agent-dkms", module.NextStep());
        Assert.Contains("edr_local_out", module.NextStep());
        Assert.Contains("Example EDR", (module with { Owner = module.Owner! with { Package = null } }).NextStep());

        var agent = new Culprit
        {
            Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Exact, Summary = "dropped by BPF program edr_drop", ProgramName = "edr_drop", ProgramId = 9,
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.Process, Name = "/usr/sbin/edr-agent", Confidence = CulpritConfidence.Exact, Summary = "held by process edr-agent (pid 4242)",
                Package = new OwnerPackage("rpm", "edr-agent", "7.1.3-1"),
            },
        };
        Assert.Contains("pid 4242", agent.NextStep());
        Assert.Contains("edr-agent 7.1.3-1", agent.NextStep());
    }
}
