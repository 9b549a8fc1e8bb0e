using System.Net;
using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution;

/// <summary>
/// The attributor's reasoning on hook tables and symbols written out here, for cases this kernel
/// cannot produce (an out-of-tree module's hook needs loadable modules: a fake module symbol stands in).
/// </summary>
[UnitTest]
public sealed class AttributorTests
{
    private const uint Netns = 4026531840;
    private static readonly HookPoint LocalOut = new(Netns, HookPoint.IPv4, (byte)nf_inet_hooks.NF_INET_LOCAL_OUT);
    private static readonly KernelSymbols Symbols = KernelSymbols.Parse(new MemoryStream(System.Text.Encoding.ASCII.GetBytes("""
        ffffffff81000000 T nf_hook_slow
        ffffffff81100000 T nft_do_chain
        ffffffff81200000 T selinux_ip_output
        ffffffff81300000 T nf_queue
        ffffffff81310000 T nfqnl_reinject
        ffffffffa0001000 t bpf_prog_37a27c48b736cd37_edr_drop	[bpf]
        ffffffffc0a00000 t edr_hook	[edr_agent]
        """)));

    private static HookEntry Sentinel(int priority) => new(priority, 0, hook_entry_kind.HOOK_ENTRY_BPF, 7, "sentinel", "", true, true);

    private static HookEntry Function(int priority, ulong address) => new(priority, address, hook_entry_kind.HOOK_ENTRY_FUNCTION, 0, "", "", false, false);

    private static DropFlow NetfilterDrop(ushort sentinelsPassed) => new(
        Netns, 0, IPAddress.Parse("192.0.2.10"), IPAddress.Parse("10.0.0.5"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, 40000, 8885,
        12, 0xffffffff81000040, NetfilterHook: (byte)(LocalOut.Hook + 1), NetfilterFamily: HookPoint.IPv4, SentinelsPassed: sentinelsPassed);

    private static readonly IReadOnlyDictionary<HookPoint, IReadOnlyList<HookEntry>> Tables = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>
    {
        [LocalOut] =
        [
            Sentinel(int.MinValue + 1),
            Function(-200, 0xffffffff81200010),
            Sentinel(-199),
            Function(-75, 0xffffffffc0a00000),
            Sentinel(-74),
        ],
    };

    // Written out as BTF would give them: the values are this test's, not a kernel's.
    private static readonly DropReasons Reasons = new(new Dictionary<long, string> { [2] = "SKB_DROP_REASON_NOT_SPECIFIED", [12] = "SKB_DROP_REASON_NETFILTER_DROP" });

    private static Attributor Create() => new(Symbols, Reasons, DropReasonGuide.Embedded());

    /// <summary>One interval's evidence with the hook tables above; the node's answers are given, none asked of this machine.</summary>
    private static IntervalEvidence Seen(string? taint = "OE", IReadOnlyList<(uint Id, string Name)>? lsmPrograms = null,
                                         IReadOnlyList<(uint Id, string Name, string Tag)>? loadedPrograms = null) =>
        new(new DropInterval([], default, []), new NodeQueries
        {
            ModuleTaint = _ => taint, LsmPrograms = () => lsmPrograms ?? [], ActiveLsms = () => null,
            TcPrograms = (_, _) => [], XdpPrograms = _ => [], CgroupEgressPrograms = () => [], IptablesLegacyDropping = (_, _, _) => [],
            BpfHolders = () => new Dictionary<uint, IReadOnlyList<BpfHolder>>(), BpfPins = () => [], LoadedPrograms = () => loadedPrograms ?? [],
        }.ForInterval())
        {
            HookTables = Tables,
        };

    [Fact]
    public void ADropInsideABpfProgramsJitCodeIsThatProgram_WithItsIdWhenOneLoadedProgramHasItsTagAndName()
    {
        var flow = NetfilterDrop(0) with { NetfilterHook = 0, Location = 0xffffffffa0001040, Reason = 2 };
        const string Tag = "37a27c48b736cd37";

        var one = Create().Name(Seen(loadedPrograms: [(8911, "edr_drop", Tag), (12, "edr_drop", "0011223344556677")]), flow, "NOT_SPECIFIED");
        var twice = Create().Name(Seen(loadedPrograms: [(8911, "edr_drop", Tag), (8912, "edr_drop", Tag)]), flow, "NOT_SPECIFIED");

        Assert.Equal((CulpritKind.BpfProgram, "edr_drop", 8911u), (one.Kind, one.ProgramName, one.ProgramId));
        Assert.Contains($"the only loaded BPF program with tag {Tag} and name edr_drop has id 8911", one.Evidence);
        Assert.Equal(("edr_drop", (uint?)null), (twice.ProgramName, twice.ProgramId));
    }

    [Fact]
    public void AModuleHookBetweenTwoSentinelsIsNamedWithItsModule()
    {
        var culprit = Create().Name(Seen(), NetfilterDrop(sentinelsPassed: 2), "NETFILTER_DROP");

        Assert.Equal(CulpritKind.KernelModule, culprit.Kind);
        Assert.Equal(CulpritConfidence.Bracketed, culprit.Confidence);
        Assert.Equal("edr_hook", culprit.Function);
        Assert.Equal("edr_agent", culprit.Module);
        Assert.True(culprit.OutOfTree);
        Assert.Equal("OUTPUT", culprit.Hook);
        Assert.Equal(-75, culprit.Priority);
        Assert.Contains("out-of-tree kernel module edr_agent", culprit.Summary);
    }

    [Fact]
    public void AnObservedDropVerdictOfAModuleHookIsExact()
    {
        // The exact tier (fexit/kprobe) is refused on this kernel: its sample is written out here.
        var flow = NetfilterDrop(sentinelsPassed: DropEvent.TRACER_NF_EXACT);
        var seen = Seen() with { ExactVerdicts = new Dictionary<DropFlow, ulong> { [flow] = 0xffffffffc0a00000 } };

        var culprit = Create().Name(seen, flow, "NETFILTER_DROP");

        Assert.Equal(CulpritKind.KernelModule, culprit.Kind);
        Assert.Equal(CulpritConfidence.Exact, culprit.Confidence);
        Assert.Equal("edr_hook", culprit.Function);
        Assert.Equal("OUTPUT", culprit.Hook);
        Assert.Equal(-75, culprit.Priority);
    }

    [Fact]
    public void AnIntervalBecomesRecords_AndItsUnexplainedNetfilterDropAsksForObserversAtItsHookPoint_UntilEvidenceNamesTheFlow()
    {
        var attributor = Create();
        var unexplained = NetfilterDrop(sentinelsPassed: 0); // at LocalOut, no bracket: only its location and hook point are known
        IntervalEvidence Interval(DropFlow flow) => Seen() with { Drops = new DropInterval([new DropCount(flow, 3, 300, 1, 2)], default, []) };

        var first = attributor.Attribute(Interval(unexplained), _ => false);

        var record = Assert.Single(first.Records);
        Assert.Equal(("NETFILTER_DROP", 3ul, CulpritConfidence.Inferred), (record.Reason, record.Count, record.Culprit!.Confidence));
        Assert.Equal(LocalOut, Assert.Single(first.Requests).Point);

        // The sentinels bracket the next drop of the flow (another client port): named, and remembered for the flow.
        attributor.Attribute(Interval(NetfilterDrop(sentinelsPassed: 2) with { SourcePort = 40001 }), _ => false);
        var later = attributor.Attribute(Interval(unexplained with { SourcePort = 40002 }), _ => false);

        Assert.Equal(("edr_agent", CulpritConfidence.Bracketed), (Assert.Single(later.Records).Culprit!.Module, later.Records[0].Culprit!.Confidence));
        Assert.Empty(later.Requests);
    }

    [Theory]
    // The listener's verdict: the sentinel trail (LOCAL_OUT, a bracket) is another packet's, so where its packets enter netfilter.
    [InlineData(0xffffffff81310040ul, 1, new[] { (byte)nf_inet_hooks.NF_INET_PRE_ROUTING, (byte)nf_inet_hooks.NF_INET_LOCAL_OUT })]
    // No listener: freed on the packet's own path, whose trail says LOCAL_OUT.
    [InlineData(0xffffffff81300040ul, 0, new[] { (byte)nf_inet_hooks.NF_INET_LOCAL_OUT })]
    public void AnUnexplainedNfqueueDropAsksForNftablesTraceOnly_WhereItsPacketsCanBeMarked(ulong location, ushort sentinelsPassed, byte[] hooks)
    {
        // Its reason is NOT_SPECIFIED: the location alone makes it netfilter's.
        var queued = NetfilterDrop(sentinelsPassed) with { Location = location, Reason = 2 };
        var seen = Seen() with { Drops = new DropInterval([new DropCount(queued, 3, 300, 1, 2)], default, []) };

        var interval = Create().Attribute(seen, _ => false);

        Assert.Equal(CulpritConfidence.Inferred, Assert.Single(interval.Records).Culprit!.Confidence);
        Assert.Equal(hooks.Select(h => new HookPoint(Netns, HookPoint.IPv4, h)), interval.Requests.Select(r => r.Point));
        Assert.All(interval.Requests, r => Assert.True(r.NftablesOnly));
    }

    [Fact]
    public void AnLsmHookIsNamedAsTheLsm()
    {
        var culprit = Create().Name(Seen(), NetfilterDrop(sentinelsPassed: 1), "NETFILTER_DROP");

        Assert.Equal(CulpritKind.Lsm, culprit.Kind);
        Assert.Equal(CulpritLsm.Selinux, culprit.LsmName);
        Assert.Equal(-200, culprit.Priority);
    }

    // SELinux cannot be active on this machine's kernel: the denials below are written out here, as the drop probe
    // decodes them; the kernel matrix (KernelMatrixTests) observes real ones under an enforcing policy.
    private static readonly SelinuxDenial RecvDenied = new("system_u:system_r:node_t:s0", "system_u:object_r:blocked_t:s0", "packet", "recv");

    private static DropFlow SocketDrop => NetfilterDrop(0) with { NetfilterHook = 0, Location = 0xffffffff81000010 };

    [Fact]
    public void AnSelinuxDenialBeforeASocketDropMakesSelinuxTheExactCulpritEvenWithABpfLsmProgramLoaded()
    {
        var seen = Seen(lsmPrograms: [(42u, "deny_probes")]) with { SelinuxDenials = new Dictionary<DropFlow, SelinuxDenial> { [SocketDrop] = RecvDenied } };

        var culprit = Create().Name(seen, SocketDrop, "SOCKET_FILTER");

        Assert.Equal(CulpritKind.Lsm, culprit.Kind);
        Assert.Equal(CulpritLsm.Selinux, culprit.LsmName);
        Assert.Equal(CulpritConfidence.Exact, culprit.Confidence);
        Assert.Null(culprit.ProgramId);
        Assert.Equal(("system_u:object_r:blocked_t:s0", "packet", "recv"), (culprit.Tcontext, culprit.Tclass, culprit.Permissions));
        Assert.Contains("does not let node_t recv a packet labeled blocked_t", culprit.Summary);
        Assert.Contains("sesearch --allow -s node_t -t blocked_t -c packet", culprit.Check);
        Assert.Contains(culprit.Evidence, e => e.EndsWith("avc: denied { recv } scontext=system_u:system_r:node_t:s0 tcontext=system_u:object_r:blocked_t:s0 tclass=packet", StringComparison.Ordinal));
    }

    [Fact]
    public void AnSelinuxHookDropTakesTheDenialIntoItsCulprit()
    {
        var flow = NetfilterDrop(sentinelsPassed: 1);
        var seen = Seen() with { SelinuxDenials = new Dictionary<DropFlow, SelinuxDenial> { [flow] = RecvDenied with { Permissions = "send" } } };

        var culprit = Create().Name(seen, flow, "NETFILTER_DROP");

        Assert.Equal(((CulpritLsm?)CulpritLsm.Selinux, CulpritConfidence.Exact, "OUTPUT", -200), (culprit.LsmName, culprit.Confidence, culprit.Hook, culprit.Priority));
        Assert.StartsWith("denied by SELinux at OUTPUT priority -200 (selinux_ip_output): ", culprit.Summary);
    }

    [Fact]
    public void AnSelinuxDenialDoesNotTakeOverADropSomethingElseMade()
    {
        var attributor = Create();
        var flow = NetfilterDrop(sentinelsPassed: 2);
        var noSocket = SocketDrop with { Reason = 2 };
        var seen = Seen() with { SelinuxDenials = new Dictionary<DropFlow, SelinuxDenial> { [flow] = RecvDenied, [noSocket] = RecvDenied } };

        var culprit = attributor.Name(seen, flow, "NETFILTER_DROP");

        Assert.Equal(CulpritKind.KernelModule, culprit.Kind);
        Assert.Null(culprit.Tcontext);
        Assert.Equal(CulpritKind.KernelStack, attributor.Name(seen, noSocket, "NO_SOCKET").Kind);
    }

    [Fact]
    public void AnObservedVerdictOfAFunctionServingBothFamiliesIsPlacedAtTheFlowsFamily()
    {
        var flow = NetfilterDrop(DropEvent.TRACER_NF_EXACT) with { NetfilterHook = 0 };
        var seen = Seen(taint: null) with
        {
            ExactVerdicts = new Dictionary<DropFlow, ulong> { [flow] = 0xffffffff81200000 },
            HookTables = new Dictionary<HookPoint, IReadOnlyList<HookEntry>>
            {
                [LocalOut] = [Function(-225, 0xffffffff81200000)],
                [LocalOut with { Family = HookPoint.IPv6 }] = [Function(-225, 0xffffffff81200000)],
            },
        };

        var culprit = Create().Name(seen, flow, "NETFILTER_DROP");

        Assert.Equal(("ipv4", "OUTPUT", -225), (culprit.Family, culprit.Hook, culprit.Priority));
        Assert.StartsWith("dropped at OUTPUT priority -225 by netfilter hook function selinux_ip_output", culprit.Summary);
    }

    [Fact]
    public void WithoutABracketANetfilterDropIsOnlyInferred()
    {
        var culprit = Create().Name(Seen(), NetfilterDrop(sentinelsPassed: 0), "NETFILTER_DROP");

        Assert.Equal(CulpritKind.NetfilterHook, culprit.Kind);
        Assert.Equal(CulpritConfidence.Inferred, culprit.Confidence);
    }

    [Fact]
    public void ADropInsideModuleCodeIsTheModules()
    {
        var flow = NetfilterDrop(0) with { Location = 0xffffffffc0a00020, NetfilterHook = 0, Reason = 2 };

        var culprit = Create().Name(Seen(taint: ""), flow, "NOT_SPECIFIED");

        Assert.Equal(CulpritKind.KernelModule, culprit.Kind);
        Assert.False(culprit.OutOfTree);
    }

    [Fact]
    public void ASecurityHookDropNamesTheOnlyBpfLsmProgram()
    {
        // BPF-LSM programs are refused on this kernel: the loaded program is a stand-in.
        var flow = NetfilterDrop(0) with { NetfilterHook = 0, Location = 0xffffffff81000010 };

        var culprit = Create().Name(Seen(lsmPrograms: [(42u, "deny_probes")]), flow, "SECURITY_HOOK");

        Assert.Equal(CulpritKind.Lsm, culprit.Kind);
        Assert.Equal(CulpritLsm.Bpf, culprit.LsmName);
        Assert.Equal(42u, culprit.ProgramId);
        Assert.Contains("deny_probes", culprit.Summary);
    }

    [Fact]
    public void SentinelsGoBehindEachForeignHookAtAFreePriority()
    {
        IReadOnlyList<HookEntry> entries =
        [
            Sentinel(int.MinValue + 1),
            Function(-300, 1),
            Function(-299, 2), // takes -300 + 1
            Function(0, 3),
            Function(0, 4),    // same priority: shares the bracket
            Function(5, 5),
        ];

        var priorities = NetfilterSentinels.SentinelPriorities(entries).ToList();

        Assert.Equal(new[] { -298, 1, 6 }, priorities);
    }
}
