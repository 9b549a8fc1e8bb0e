using Tracer.Attribution;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// The policy debug files felix writes with bpfPolicyDebugEnabled, in the shape felix's source gives them
/// (felix/bpf/bpf_defs.go PolicyDebugInfo, felix/bpf/asm Insn, the comments of felix/bpf/polprog/pol_prog_builder.go),
/// and files that are not those of the interface and hook asked about.
/// </summary>
[UnitTest]
public sealed class CalicoPolicyDebugTests
{
    // What felix's json.Encoder writes: one object and a newline; inst is the instruction's 8 bytes.
    internal static string File(string iface, string hook, params string[] comments) =>
        $$"""{"ifacename":"{{iface}}","hook":"tc {{hook}}","policyInfo":[{"inst":[191,22,0,0,0,0,0,0],"comments":["Load packet metadata saved by previous program"]},""" +
        string.Join(",", comments.Select(c => $$"""{"inst":[183,0,0,0,0,0,0,0],"labels":["allow"],"comments":["{{c.Replace("\"", "\\\"", StringComparison.Ordinal)}}"]}""")) +
        """],"error":""}""" + "\n";

    [Fact]
    public void ThePoliciesOfTheProgramAreListedInTheOrderItAppliesThem_OncePerPolicy()
    {
        var json = File("cali1234abcd", "egress",
                        "Start of tier default",
                        "Start of KubernetesNetworkPolicy shop/allow-web 0",
                        "Start of rule shop/allow-web action:\"allow\" protocol:{name:\"tcp\"}",
                        "Rule MatchID: 0x1a2b",
                        "End of KubernetesNetworkPolicy shop/allow-web 0",
                        "Start of NetworkPolicy shop/deny-scans 1",
                        "Start of GlobalNetworkPolicy default-deny 2",
                        "End of tier default: deny",
                        "##### Start of program 1 #####",
                        "Start of NetworkPolicy shop/deny-scans 1");

        var (policies, error) = CalicoPolicyDebug.Parse(json, "cali1234abcd", "egress")!.Value;

        Assert.Equal(["Kubernetes NetworkPolicy shop/allow-web (enforced by Calico)", "Calico NetworkPolicy shop/deny-scans", "Calico GlobalNetworkPolicy default-deny"],
                     policies);
        Assert.Null(error);
    }

    [Fact]
    public void BeforePolicyKinds_FelixsPolicyIdNamesThePolicy()
    {
        var json = File("cali1234abcd", "ingress", "Start of policy shop/knp.default.allow-web", "Start of policy default.deny-all");

        Assert.Equal(["Kubernetes NetworkPolicy shop/allow-web (enforced by Calico)", "Calico GlobalNetworkPolicy default.deny-all"],
                     CalicoPolicyDebug.Parse(json, "cali1234abcd", "ingress")!.Value.Policies);
    }

    [Fact]
    public void AKindTracerDoesNotKnowIsListedAsFelixWroteIt()
    {
        var json = File("cali1234abcd", "egress", "Start of KubernetesClusterNetworkPolicy deny-external 0");

        Assert.Equal(["KubernetesClusterNetworkPolicy deny-external"], CalicoPolicyDebug.Parse(json, "cali1234abcd", "egress")!.Value.Policies);
    }

    [Fact]
    public void FelixsErrorBuildingTheProgramIsKept_AndAnEndpointWithoutPoliciesHasNone()
    {
        const string json = """{"ifacename":"cali1234abcd","hook":"tc egress","policyInfo":null,"error":"failed to generate policy bytecode v4"}""";

        var (policies, error) = CalicoPolicyDebug.Parse(json, "cali1234abcd", "egress")!.Value;

        Assert.Empty(policies);
        Assert.Equal("failed to generate policy bytecode v4", error);
    }

    [Theory]
    [InlineData("cali5678abcd", "egress")] // another interface's file
    [InlineData("cali1234abcd", "ingress")] // the other hook's program
    public void AFileOfAnotherInterfaceOrHookIsNotClaimed(string iface, string hook) =>
        Assert.Null(CalicoPolicyDebug.Parse(File("cali1234abcd", "egress", "Start of GlobalNetworkPolicy default-deny 0"), iface, hook));

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("""{"ifacename":"cali1234abcd","hook":"egress","policyInfo":[]}""")] // felix writes "tc egress"
    [InlineData("""{"ifacename":"cali1234abcd","policyInfo":[]}""")]
    [InlineData("""{"ifacename":"cali1234abcd","hook":"tc egress","policyInfo":"Start of GlobalNetworkPolicy x 0"}""")]
    [InlineData("""{"ifacename":"cali1234abcd","hook":"tc egress","policyInfo":[{"comments":["Start of""")]
    public void TextsOfAnotherShapeAreNotClaimed(string json) => Assert.Null(CalicoPolicyDebug.Parse(json, "cali1234abcd", "egress"));

    [Theory]
    [InlineData("Start of tier default")]
    [InlineData("Start of rule shop/allow-web action:\"allow\"")]
    [InlineData("Start of KubernetesNetworkPolicy shop/allow-web")] // no policy number: not felix's comment
    [InlineData("End of KubernetesNetworkPolicy shop/allow-web 0")]
    [InlineData("Rule MatchID: 0x1a2b")]
    public void CommentsThatOpenNoPolicyNameNone(string comment) =>
        Assert.Empty(CalicoPolicyDebug.Parse(File("cali1234abcd", "egress", comment), "cali1234abcd", "egress")!.Value.Policies);
}
