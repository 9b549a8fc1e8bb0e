using Tracer.Attribution;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// Calico's eBPF dataplane as the owner of a BPF program's drops, with the node's answers given (holders, pins,
/// processes, interface names, felix's policy debug files): felix's program names as the kernel keeps them, its pin
/// paths in any bpffs mount, and the shapes that are not claimed — a program that only borrows felix's name.
/// </summary>
[UnitTest]
public sealed class CalicoDataplaneOwnersTests
{
    private const uint Program = 4711;
    private const uint PodVethIndex = 7;
    private const string PodVeth = "cali1234abcd";

    private static readonly OwnerProcess CalicoNode = new(812, "calico-node", "/usr/bin/calico-node", "calico-node -felix", "/kubepods.slice/calico-node.scope");
    private static readonly OwnerProcess Agent = new(4242, "edr-agent", "/usr/sbin/edr-agent", "/usr/sbin/edr-agent", null);

    /// <summary>What BpfProgramCulprits makes of felix's entry program attached to the pod's veth, towards the pod.</summary>
    private static readonly Culprit Preamble = new()
    {
        Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Inferred, Summary = "dropped by tc egress BPF program cali_tc_preambl",
        ProgramId = Program, ProgramName = "cali_tc_preambl", Attach = CulpritAttach.Tc, Hook = "egress",
    };

    private static NodeQueries Node(IReadOnlyList<BpfHolder>? holders = null, IReadOnlyList<BpfPin>? pins = null,
                                    IReadOnlyDictionary<string, string>? policyFiles = null, string? secondVeth = null) => new()
    {
        BpfHolders = () => holders is null ? new Dictionary<uint, IReadOnlyList<BpfHolder>>() : new() { [Program] = holders },
        BpfPins = () => pins ?? [],
        Process = pid => pid == CalicoNode.Pid ? CalicoNode : pid == Agent.Pid ? Agent : null,
        SeesHostFiles = _ => false,
        PackageOwning = (_, _) => null,
        InterfaceName = index => index == PodVethIndex ? PodVeth : index == PodVethIndex + 1 ? secondVeth : null,
        CalicoPolicyDebugFile = name => policyFiles?.GetValueOrDefault(name),
    };

    private static CulpritOwner? OwnerOf(Culprit culprit, NodeQueries node, int ipVersion = 4) =>
        BpfProgramOwners.Of(culprit, node.ForInterval(), PodVethIndex, ipVersion);

    [Fact]
    public void FelixsTcFilterNothingHoldsIsCalicosDataplaneAtThePodsInterface()
    {
        var owner = OwnerOf(Preamble, Node());

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.CalicoDataplane, owner.Kind);
        Assert.Equal(PodVeth, owner.Name);
        Assert.Equal(CulpritConfidence.Inferred, owner.Confidence);
        Assert.Equal("Calico's eBPF dataplane (felix) dropped it at workload interface cali1234abcd (tc egress: traffic to the pod, its ingress policy): " +
                     "a Calico policy, or felix's own checks; the kernel does not say which policy", owner.Summary);
        Assert.Contains(owner.Evidence, e => e.StartsWith("program name cali_tc_preambl is one felix gives", StringComparison.Ordinal));
        Assert.Contains(owner.Evidence, e => e.StartsWith("attached to cali1234abcd (tc egress); no process holds it", StringComparison.Ordinal));
        Assert.Contains("calico-node -bpf policy dump cali1234abcd all", (Preamble with { Owner = owner }).NextStep(), StringComparison.Ordinal);
    }

    [Fact]
    public void OneProgramOnTwoDevicesNamesEachDropsOwnDevice_ThoughOwnersAreRemembered()
    {
        // The same node's questions across intervals: the owner is remembered per program and device, not per program alone.
        var node = Node(secondVeth: "cali5678efgh");

        var first = BpfProgramOwners.Of(Preamble, node.ForInterval(), PodVethIndex);
        var second = BpfProgramOwners.Of(Preamble, node.ForInterval(), PodVethIndex + 1);

        Assert.Equal((PodVeth, "cali5678efgh"), (first?.Name, second?.Name));
    }

    [Fact]
    public void ThePoliciesFelixAppliesThereAreListed_FromTheFileWhoseProgramIsThatHooks()
    {
        // On a workload interface felix names the file by the policy direction: tc egress (towards the pod) is "ingress".
        var files = new Dictionary<string, string>
        {
            ["cali1234abcd_ingress_v4.json"] = CalicoPolicyDebugTests.File(PodVeth, "egress", "Start of KubernetesNetworkPolicy shop/allow-web 0", "Start of GlobalNetworkPolicy default-deny 1"),
            ["cali1234abcd_egress_v4.json"] = CalicoPolicyDebugTests.File(PodVeth, "ingress", "Start of NetworkPolicy shop/egress-only 0"),
            ["cali1234abcd_ingress_v6.json"] = CalicoPolicyDebugTests.File(PodVeth, "egress", "Start of NetworkPolicy shop/v6-only 0"),
        };

        var owner = OwnerOf(Preamble, Node(policyFiles: files))!;

        Assert.EndsWith("; policies applied there, in order: Kubernetes NetworkPolicy shop/allow-web (enforced by Calico), Calico GlobalNetworkPolicy default-deny",
                        owner.Summary);
        Assert.Contains("/var/run/calico/bpf/policy/cali1234abcd_ingress_v4.json (felix's bpfPolicyDebugEnabled): " +
                        "Kubernetes NetworkPolicy shop/allow-web (enforced by Calico); Calico GlobalNetworkPolicy default-deny", owner.Evidence);
        Assert.EndsWith("in order: Calico NetworkPolicy shop/v6-only", OwnerOf(Preamble, Node(policyFiles: files), ipVersion: 6)!.Summary);
    }

    [Fact]
    public void ATcxLinkPinnedWhereFelixPinsItIsCalicos_InAnyBpffsMount_WithThePin()
    {
        var tcx = Preamble with { Attach = CulpritAttach.Tcx, Hook = "ingress" };
        foreach (var mount in (string[])["/sys/fs/bpf", "/run/test-bpffs"])
        {
            var pin = new BpfPin($"{mount}/tcx/cali1234abcd_ingress", new BpfFdInfo(Program, 31, "tcx")) { Mount = mount };

            var owner = OwnerOf(tcx, Node(pins: [pin]))!;

            Assert.Equal(OwnerKind.CalicoDataplane, owner.Kind);
            Assert.Equal(pin.Path, owner.PinPath);
            Assert.Contains("workload interface cali1234abcd (tc ingress: traffic from the pod, its egress policy)", owner.Summary);
            Assert.Contains($"pinned at {pin.Path}, where felix pins its tcx/netkit attachment of cali1234abcd ingress", owner.Evidence);
        }
    }

    [Fact]
    public void AProgramCalicoNodeHoldsIsCalicos_WithItsProcess()
    {
        var owner = OwnerOf(Preamble, Node(holders: [new BpfHolder(CalicoNode.Pid, 12, new BpfFdInfo(Program, null, null))]))!;

        Assert.Equal(OwnerKind.CalicoDataplane, owner.Kind);
        Assert.Equal([CalicoNode], owner.Processes);
        Assert.Contains("held by felix: calico-node (pid 812)", owner.Evidence);
        Assert.Contains("/proc/812/fdinfo/12: prog_id 4711", owner.Evidence);
    }

    [Theory]
    [InlineData("cali_tc_preambl")] // as the kernel keeps cali_tc_preamble
    [InlineData("cali_tc_preamble")] // as a JIT symbol with BTF names it
    [InlineData("cali_xdp_preamb")]
    [InlineData("calico_tc_main")]
    [InlineData("calico_tc_skb_d")]
    [InlineData("calico_tc_skb_drop")]
    [InlineData("calico_xdp_drop")]
    [InlineData("p4I_cali1234abc")] // a policy program, cut to 15 characters
    [InlineData("p6E_eth0")]
    [InlineData("p4x_eth0")]
    [InlineData("p4I_cali1234_1")] // the second part of a split policy program
    public void FelixsProgramNamesAreKnown(string name) => Assert.True(CalicoDataplaneOwners.IsFelixProgramName(name));

    [Theory]
    [InlineData("cali_foo")]
    [InlineData("cali_tc_preamb")] // 14 characters: no cut the kernel makes
    [InlineData("calico")]
    [InlineData("calico_tc_main2")]
    [InlineData("p4i_cali1234abc")] // felix writes the direction's capital
    [InlineData("p4I_")]
    [InlineData("tc_drop")]
    [InlineData("")]
    [InlineData(null)]
    public void OtherNamesAreNotFelixs(string? name) => Assert.False(CalicoDataplaneOwners.IsFelixProgramName(name));

    [Theory]
    [InlineData("/sys/fs/bpf/tcx/cali1234abcd_egress", "/sys/fs/bpf", "cali1234abcd", "egress")]
    [InlineData("/sys/fs/bpf/netkit/cali1234abcd_ingress", "/sys/fs/bpf", "cali1234abcd", "ingress")]
    [InlineData("/sys/fs/bpf/tcx/eth0100_ingress", "/sys/fs/bpf", "eth0100", "ingress")] // eth0.100: felix drops the dots
    [InlineData("/run/test-bpffs/tcx/cali1_egress", "/run/test-bpffs", "cali1", "egress")]
    public void FelixsPinsNameTheInterfaceAndHook(string path, string mount, string iface, string hook) =>
        Assert.Equal((iface, hook), CalicoDataplaneOwners.FelixPinned(new BpfPin(path, new BpfFdInfo(Program, 1, "tcx")) { Mount = mount }));

    [Theory]
    [InlineData("/sys/fs/bpf/tc/globals/cali_jump2", "/sys/fs/bpf")]
    [InlineData("/sys/fs/bpf/tcx/cali1234abcd_xdp", "/sys/fs/bpf")]
    [InlineData("/sys/fs/bpf/my-tools/tcx/cali1234abcd_egress", "/sys/fs/bpf")]
    [InlineData("/sys/fs/bpf/tcx/cali1234abcd_egress", "/run/test-bpffs")] // not in that mount
    [InlineData("/sys/fs/bpf/tcx/sub/cali1_egress", "/sys/fs/bpf")]
    public void OtherPinsAreNotFelixs(string path, string mount) =>
        Assert.Null(CalicoDataplaneOwners.FelixPinned(new BpfPin(path, new BpfFdInfo(Program, 1, "tcx")) { Mount = mount }));

    [Fact]
    public void AUsersProgramNamedCaliIsNotCalicos()
    {
        Assert.Null(OwnerOf(Preamble with { ProgramName = "cali_foo" }, Node()));
        var pin = new BpfPin("/sys/fs/bpf/tcx/cali1234abcd_egress", new BpfFdInfo(Program, 31, "tcx")) { Mount = "/sys/fs/bpf" };
        Assert.Equal(OwnerKind.PinnedProgram, OwnerOf(Preamble with { ProgramName = "cali_foo" }, Node(pins: [pin]))!.Kind);
    }

    [Fact]
    public void AFelixNamedProgramAnotherProcessHoldsIsThatProcesss()
    {
        var owner = OwnerOf(Preamble, Node(holders: [new BpfHolder(Agent.Pid, 5, new BpfFdInfo(Program, null, null))]))!;

        Assert.Equal(OwnerKind.Process, owner.Kind);
        Assert.Equal("/usr/sbin/edr-agent", owner.Name);
    }

    [Fact]
    public void AFelixNamedProgramPinnedElsewhereIsOnlyPinned()
    {
        var pin = new BpfPin("/sys/fs/bpf/my-tools/cali_tc", new BpfFdInfo(Program, null, null)) { Mount = "/sys/fs/bpf" };

        Assert.Equal(OwnerKind.PinnedProgram, OwnerOf(Preamble, Node(pins: [pin]))!.Kind);
    }

    [Fact]
    public void AFelixNamedProgramNotOnADeviceWithNothingOfFelixsHasNoOwner()
    {
        // A netfilter or cgroup program, or one named from a JIT symbol: the name alone is not enough.
        Assert.Null(OwnerOf(Preamble with { Attach = CulpritAttach.Netfilter, Hook = null }, Node()));
        Assert.Null(OwnerOf(Preamble with { Attach = null, Hook = null }, Node()));
        Assert.Null(BpfProgramOwners.Of(Preamble, Node().ForInterval(), ifindex: 99));
    }
}
