using Tracer.Attribution;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// Whose a BPF program is, with the node's answers given (holders, pins, processes, packages): none is asked of
/// this machine. The node answers are counted to check that the costly walks run once per program, not per interval.
/// </summary>
[UnitTest]
public sealed class BpfProgramOwnersTests
{
    private const uint EdrProgram = 1393;
    private const string ContainerId = "3f2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    private const string PodUid = "5f1c7a2e-3b0d-4c58-9a57-0c2f6e1d9b11";
    private const string PodCgroup = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5f1c7a2e_3b0d_4c58_9a57_0c2f6e1d9b11.slice/" +
                                     $"cri-containerd-{ContainerId}.scope";

    private static readonly OwnerProcess Agent = new(4242, "edr-agent", "/usr/sbin/edr-agent", "/usr/sbin/edr-agent --policy default", PodCgroup)
    {
        ContainerId = ContainerId, PodUid = PodUid,
    };

    private static readonly Culprit NetfilterProgram = new()
    {
        Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Bracketed, Summary = "dropped by BPF netfilter program edr_drop",
        ProgramId = EdrProgram, ProgramName = "edr_drop", Attach = CulpritAttach.Netfilter,
    };

    private int _walks;
    private int _pinWalks;
    private int _packageLookups;
    private DateTimeOffset _now = DateTimeOffset.Parse("2026-12-03T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private NodeQueries Node(IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>>? holders = null, IReadOnlyList<BpfPin>? pins = null,
                             OwnerPackage? package = null, bool hostFiles = false) => new()
    {
        BpfHolders = () =>
        {
            _walks++;
            return holders ?? new Dictionary<uint, IReadOnlyList<BpfHolder>>();
        },
        BpfPins = () =>
        {
            _pinWalks++;
            return pins ?? [];
        },
        Process = pid => pid == Agent.Pid ? Agent : pid == 4250 ? new OwnerProcess(4250, "edr-worker", "/usr/sbin/edr-agent", null, PodCgroup) : null,
        SeesHostFiles = _ => hostFiles,
        PackageOwning = (path, root) =>
        {
            _packageLookups++;
            return path == Agent.Exe && root == "/proc/4242/root" ? package : null;
        },
        Now = () => _now,
    };

    private static readonly IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>> HeldByTheAgent = new Dictionary<uint, IReadOnlyList<BpfHolder>>
    {
        [EdrProgram] = [new BpfHolder(4242, 7, new BpfFdInfo(EdrProgram, null, null)), new BpfHolder(4242, 9, new BpfFdInfo(EdrProgram, 12, "netfilter"))],
        [77] = [new BpfHolder(1, 5, new BpfFdInfo(77, null, null))],
    };

    [Fact]
    public void TheProcessHoldingTheProgramIsItsOwner_WithItsCgroupsPodAndContainerAndItsPackage()
    {
        var owner = BpfProgramOwners.Of(NetfilterProgram, Node(HeldByTheAgent, package: new OwnerPackage("dpkg", "edr-agent", "7.1.3")).ForInterval());

        Assert.NotNull(owner);
        Assert.Equal(OwnerKind.Process, owner.Kind);
        Assert.Equal("/usr/sbin/edr-agent", owner.Name);
        Assert.Equal(CulpritConfidence.Exact, owner.Confidence);
        Assert.Equal([Agent], owner.Processes);
        Assert.Equal(new OwnerPackage("dpkg", "edr-agent", "7.1.3"), owner.Package);
        Assert.Null(owner.Pod); // the session names the pod: attribution sees none
        Assert.Equal($"held by process edr-agent (pid 4242, /usr/sbin/edr-agent) in container {ContainerId[..12]} of pod uid {PodUid}, package edr-agent 7.1.3 (dpkg)",
                     owner.Summary);
        Assert.Contains("/proc/4242/fdinfo/7: prog_id 1393", owner.Evidence);
        Assert.Contains("/proc/4242/fdinfo/9: link_id 12 (netfilter), prog_id 1393", owner.Evidence);
        Assert.Contains($"/proc/4242/cgroup: {PodCgroup} → pod uid {PodUid}, container {ContainerId}", owner.Evidence);
        Assert.Contains(owner.Evidence, e => e.Contains("dpkg database under /proc/4242/root, the files of its own mount namespace: its image's, in a container", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryHoldingProcessIsListed_AndTheSummarySaysHowMany()
    {
        var holders = new Dictionary<uint, IReadOnlyList<BpfHolder>>
        {
            [EdrProgram] = [new BpfHolder(4250, 3, new BpfFdInfo(EdrProgram, 12, "netfilter")), new BpfHolder(4242, 9, new BpfFdInfo(EdrProgram, 12, "netfilter"))],
        };

        var owner = BpfProgramOwners.Of(NetfilterProgram, Node(holders, hostFiles: true).ForInterval())!;

        Assert.Equal([4242, 4250], owner.Processes!.Select(p => p.Pid));
        Assert.StartsWith("held by process edr-agent (pid 4242, /usr/sbin/edr-agent) and 1 more in container", owner.Summary);
        Assert.Null(owner.Package);
        Assert.Contains("no package database under /proc/4242/root (the host's files) lists /usr/sbin/edr-agent", owner.Evidence);
    }

    [Fact]
    public void AProgramNoProcessHoldsIsNamedByItsPin()
    {
        var pins = new List<BpfPin>
        {
            new("/sys/fs/bpf/edr/maps/blocked", new BpfFdInfo(1, null, null)),
            new("/sys/fs/bpf/edr/link", new BpfFdInfo(EdrProgram, 12, "netfilter")),
        };

        var owner = BpfProgramOwners.Of(NetfilterProgram, Node(pins: pins).ForInterval())!;

        Assert.Equal(OwnerKind.PinnedProgram, owner.Kind);
        Assert.Equal("/sys/fs/bpf/edr/link", owner.PinPath);
        Assert.Equal("/sys/fs/bpf/edr/link", owner.Name);
        Assert.Null(owner.Processes);
        Assert.Contains("no process holds it", owner.Summary);
        Assert.Contains("/sys/fs/bpf/edr/link: link_id 12 (netfilter), prog_id 1393", owner.Evidence);
    }

    [Fact]
    public void AProgramNeitherHeldNorPinnedHasNoOwner_NorAHolderThatExitedSinceTheWalk()
    {
        Assert.Null(BpfProgramOwners.Of(NetfilterProgram, Node().ForInterval()));
        var exited = new Dictionary<uint, IReadOnlyList<BpfHolder>> { [EdrProgram] = [new BpfHolder(9999, 4, new BpfFdInfo(EdrProgram, null, null))] };
        Assert.Null(BpfProgramOwners.Of(NetfilterProgram, Node(exited).ForInterval()));
    }

    [Fact]
    public void ACulpritWithoutAProgramIdHasNoOwnerAndCostsNoWalk()
    {
        var node = Node(HeldByTheAgent);

        Assert.Null(BpfProgramOwners.Of(NetfilterProgram with { ProgramId = null }, node.ForInterval()));
        Assert.Equal(0, _walks);
    }

    [Fact]
    public void TheWalksRunOncePerProgramWhileTheAnswerIsKept_NotEveryInterval()
    {
        var node = Node(HeldByTheAgent, package: new OwnerPackage("dpkg", "edr-agent", "7.1.3"));

        // Two programs in one interval: one walk of /proc serves both.
        var interval = node.ForInterval();
        BpfProgramOwners.Of(NetfilterProgram, interval);
        BpfProgramOwners.Of(NetfilterProgram with { ProgramId = 77 }, interval);
        Assert.Equal(1, _walks);
        // Later intervals within the kept time: no walk, no package lookup.
        for (var i = 0; i < 10; i++)
        {
            _now += TimeSpan.FromSeconds(1);
            Assert.Equal("/usr/sbin/edr-agent", BpfProgramOwners.Of(NetfilterProgram, node.ForInterval())?.Name);
        }
        Assert.Equal((1, 1), (_walks, _packageLookups));
        // Past it: asked again, holders may have changed.
        _now += NodeQueries.RememberedFor;
        BpfProgramOwners.Of(NetfilterProgram, node.ForInterval());
        Assert.Equal(2, _walks);
    }

    [Fact]
    public void ThePinsAreWalkedOnlyForAProgramNoProcessHolds()
    {
        BpfProgramOwners.Of(NetfilterProgram, Node(HeldByTheAgent).ForInterval());

        Assert.Equal(0, _pinWalks);
    }

    [Fact]
    public void WithItsPodTheSummaryNamesThePodContainerAndWorkload()
    {
        var owner = BpfProgramOwners.Of(NetfilterProgram, Node(HeldByTheAgent, package: new OwnerPackage("dpkg", "edr-agent", "7.1.3")).ForInterval())!;

        var completed = ProcessOwners.WithPod(owner, "security/edr-agent-x7k2p", "edr", "DaemonSet security/edr-agent", "the Kubernetes API");

        Assert.Equal(("security/edr-agent-x7k2p", "edr", "DaemonSet security/edr-agent"), (completed.Pod, completed.Container, completed.Workload));
        Assert.Equal("held by process edr-agent (pid 4242, /usr/sbin/edr-agent) in container edr of pod security/edr-agent-x7k2p " +
                     "(DaemonSet security/edr-agent), package edr-agent 7.1.3 (dpkg)", completed.Summary);
        Assert.Contains("pod security/edr-agent-x7k2p, container edr (the Kubernetes API)", completed.Evidence);
    }
}
