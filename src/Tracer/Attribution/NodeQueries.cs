using Tracer.Attribution;
using Tracer.Native;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Where attribution asks the node about what the probes cannot see: BPF programs on devices, cgroups and
/// LSM hooks, module taint, iptables-legacy counters. Tests replace a question with its answer.
/// </summary>
internal sealed class NodeQueries
{
    private const int RememberedAtMost = 1024;
    internal static readonly TimeSpan ListingsFor = TimeSpan.FromSeconds(30);
    private readonly IptablesLegacy _iptablesLegacy = new();

    public Func<string, string?> ModuleTaint { get; init; } = ReadModuleTaint;
    public Func<uint, string, IReadOnlyList<DeviceProgram>> TcPrograms { get; init; } = DevicePrograms.Tc;
    public Func<uint, IReadOnlyList<DeviceProgram>> XdpPrograms { get; init; } = DevicePrograms.Xdp;
    public Func<IReadOnlyList<CgroupProgram>> CgroupEgressPrograms { get; init; } = CgroupPrograms.Egress;
    public Func<IReadOnlyList<(uint Id, string Name)>> LsmPrograms { get; init; } = BpfLsmPrograms;

    /// <summary>The active LSMs as securityfs lists them ("lockdown,capability,selinux,bpf"), null without securityfs.</summary>
    public Func<string?> ActiveLsms { get; init; } = ReadActiveLsms;

    /// <summary>AppArmor's network denials of the last seconds, oldest first, from the kernel's audit records.</summary>
    public Func<IReadOnlyList<ApparmorDenial>> ApparmorDenials { get; init; } = RecentApparmorDenials;

    /// <summary>iptables-legacy rules whose drop counters grew since the last look (family, table, chain).</summary>
    public Func<string, string, string, IReadOnlyList<LegacyRule>> IptablesLegacyDropping { get; init; }

    /// <summary>A loaded module's owner: its file, modinfo fields, signer, taint and package (kept per module: <see cref="ModuleOwnerCache"/>).</summary>
    public Func<string, Records.CulpritOwner?> ModuleOwner { get; init; }

    public NodeQueries()
    {
        IptablesLegacyDropping = _iptablesLegacy.DroppingRules;
        ModuleOwner = new ModuleOwnerCache(ModuleSources.Node).Of;
    }

    /// <summary>
    /// What nft prints for a listing ("list chain ip filter KUBE-SVC-…", "list map ip kube-proxy no-endpoint-services") in a
    /// network namespace (its inode); null where Tracer cannot list there, or the object is gone.
    /// </summary>
    public Func<uint, string, string?> NftablesListing { get; init; } = (_, _) => null;

    /// <summary>
    /// The rules of an iptables chain as iptables itself prints them (<c>-S</c>: "-A CHAIN … -m comment --comment …"), in a
    /// network namespace: family (ip, ip6: iptables-nft; ipv4, ipv6: iptables-legacy), table, chain. nft's listing of an
    /// iptables-nft rule leaves its comments out; this is where they are.
    /// </summary>
    public Func<uint, string, string, string, IReadOnlyList<string>?> IptablesChainRules { get; init; } = (_, _, _, _) => null;

    /// <summary>A network namespace's NFQUEUE bindings and netlink sockets; null where Tracer cannot read them (not a namespace it tracks, or gone).</summary>
    public Func<uint, NamespaceQueueFiles?> NfQueueFiles { get; init; } = _ => null;

    /// <summary>The name of a device of Tracer's network namespace, by its index; null when there is none.</summary>
    public Func<uint, string?> InterfaceName { get; init; } = DevicePrograms.InterfaceName;

    /// <summary>
    /// A file felix writes with bpfPolicyDebugEnabled, by its name in /var/run/calico/bpf/policy (<see cref="CalicoPolicyDebug"/>):
    /// its text, or null where there is none.
    /// </summary>
    public Func<string, string?> CalicoPolicyDebugFile { get; init; } = CalicoPolicyDebug.ReadNodeFile;

    /// <summary>The processes with a descriptor on a socket, by its inode.</summary>
    public Func<ulong, IReadOnlyList<int>> SocketHolders { get; init; } = NfQueueListeners.SocketHolders;

    /// <summary>Answers for one interval: each question asked at most once, however many drops need it.</summary>
    public NodeAnswers ForInterval() => new(this);

    /// <summary>Taint letters of a loaded module ('O' out-of-tree, 'E' unsigned), or null if unknown.</summary>
    private static string? ReadModuleTaint(string module)
    {
        var path = $"/sys/module/{module}/taint";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    private static IReadOnlyList<ApparmorDenial> RecentApparmorDenials() =>
        [.. Kernel.KernelLog.Recent(TimeSpan.FromSeconds(10)).Select(ApparmorDenial.Parse).OfType<ApparmorDenial>()];

    private static string? ReadActiveLsms() =>
        File.Exists("/sys/kernel/security/lsm") ? File.ReadAllText("/sys/kernel/security/lsm").Trim() : null;

    private static IReadOnlyList<(uint Id, string Name)> BpfLsmPrograms()
    {
        try
        {
            return LoadedBpfPrograms.OfType(bpf_prog_type.BPF_PROG_TYPE_LSM);
        }
        catch (NativeException)
        {
            return [];
        }
    }

    /// <summary>The BPF program and link descriptors of every process, by program id (a walk of /proc).</summary>
    public Func<IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>>> BpfHolders { get; init; } = BpfKeepers.Processes;

    /// <summary>The programs and links pinned in bpffs.</summary>
    public Func<IReadOnlyList<BpfPin>> BpfPins { get; init; } = BpfPinsOrNone;

    /// <summary>A process's comm, executable, command line and cgroup; null when it is gone.</summary>
    public Func<int, OwnerProcess?> Process { get; init; } = ProcessFacts.Read;

    /// <summary>Whether a process sees the host's files (the mount namespace of PID 1), not its container's.</summary>
    public Func<int, bool> SeesHostFiles { get; init; } = ProcessFacts.SeesHostFiles;

    /// <summary>The package owning a file as seen from a root (HostPackages: dpkg or rpm).</summary>
    public Func<string, string, OwnerPackage?> PackageOwning { get; init; } = HostPackages.Owning;

    /// <summary>Every loaded BPF program: id, name, tag.</summary>
    public Func<IReadOnlyList<(uint Id, string Name, string Tag)>> LoadedPrograms { get; init; } = LoadedProgramsOrNone;

    /// <summary>The clock of <see cref="Remembered"/>.</summary>
    public Func<DateTimeOffset> Now { get; init; } = () => DateTimeOffset.UtcNow;

    /// <summary>How long an answer about the node that rarely changes (who holds a program) is kept.</summary>
    public static readonly TimeSpan RememberedFor = TimeSpan.FromMinutes(5);

    private readonly Dictionary<object, (object? Answer, DateTimeOffset Until)> _remembered = [];

    /// <summary>
    /// An answer kept across intervals for <paramref name="keep"/>: what a costly look (a /proc walk, a package database
    /// read, a chain's listing) found is found again only when it may have changed, not every interval a culprit drops.
    /// At most <see cref="RememberedAtMost"/> answers: a scan of many chains cannot grow it without bound.
    /// </summary>
    internal T Remembered<T>(object question, TimeSpan keep, Func<T> ask)
    {
        var now = Now();
        if (_remembered.TryGetValue(question, out var kept) && now < kept.Until)
            return (T)kept.Answer!;
        foreach (var expired in _remembered.Where(r => now >= r.Value.Until).Select(r => r.Key).ToList())
            _remembered.Remove(expired);
        if (_remembered.Count >= RememberedAtMost)
            _remembered.Clear();
        var answer = ask();
        _remembered[question] = (answer, now + keep);
        return answer;
    }

    private static IReadOnlyList<BpfPin> BpfPinsOrNone()
    {
        try
        {
            return BpfKeepers.Pins();
        }
        catch (NativeException)
        {
            return [];
        }
    }

    private static IReadOnlyList<(uint Id, string Name, string Tag)> LoadedProgramsOrNone()
    {
        try
        {
            return LoadedBpfPrograms.All();
        }
        catch (NativeException)
        {
            return [];
        }
    }
}

/// <summary>
/// The node's answers during one interval, asked on first need and kept: a second look within the interval
/// would cost a tool run, and would see no growth of iptables-legacy counters.
/// </summary>
internal sealed class NodeAnswers(NodeQueries queries)
{
    private readonly Dictionary<object, object?> _answers = [];

    private T Once<T>(object question, Func<T> ask)
    {
        if (!_answers.TryGetValue(question, out var answer))
            _answers[question] = answer = ask();
        return (T)answer!;
    }

    public string? ModuleTaint(string module) => Once(("taint", module), () => queries.ModuleTaint(module));

    public IReadOnlyList<DeviceProgram> TcPrograms(uint ifindex, string direction) =>
        Once(("tc", ifindex, direction), () => queries.TcPrograms(ifindex, direction));

    public IReadOnlyList<DeviceProgram> XdpPrograms(uint ifindex) => Once(("xdp", ifindex), () => queries.XdpPrograms(ifindex));

    public IReadOnlyList<CgroupProgram> CgroupEgressPrograms() => Once("cgroup", queries.CgroupEgressPrograms);

    public IReadOnlyList<(uint Id, string Name)> LsmPrograms() => Once("lsm", queries.LsmPrograms);

    public string? ActiveLsms() => Once("active-lsms", queries.ActiveLsms);

    public IReadOnlyList<ApparmorDenial> ApparmorDenials() => Once("apparmor-denials", queries.ApparmorDenials);

    public IReadOnlyList<LegacyRule> IptablesLegacyDropping(string family, string table, string chain) =>
        Once(("iptables-legacy", family, table, chain), () => queries.IptablesLegacyDropping(family, table, chain));

    public Records.CulpritOwner? ModuleOwner(string module) => Once(("module-owner", module), () => queries.ModuleOwner(module));

    public IReadOnlyDictionary<uint, IReadOnlyList<BpfHolder>> BpfHolders() => Once("bpf-holders", queries.BpfHolders);

    public IReadOnlyList<BpfPin> BpfPins() => Once("bpf-pins", queries.BpfPins);

    public OwnerProcess? Process(int pid) => Once(("process", pid), () => queries.Process(pid));

    public bool SeesHostFiles(int pid) => Once(("host-files", pid), () => queries.SeesHostFiles(pid));

    public OwnerPackage? PackageOwning(string path, string root) => Once(("package", path, root), () => queries.PackageOwning(path, root));

    public IReadOnlyList<(uint Id, string Name, string Tag)> LoadedPrograms() => Once("loaded-programs", queries.LoadedPrograms);

    /// <summary>An answer kept across intervals (<see cref="NodeQueries.RememberedFor"/>), computed from this interval's answers when not.</summary>
    public T Remembered<T>(object question, Func<T> ask) => queries.Remembered(question, NodeQueries.RememberedFor, ask);

    public string? NftablesListing(uint netns, string command) =>
        Once(("nft-list", netns, command), () => queries.Remembered(("nft-list", netns, command), NodeQueries.ListingsFor, () => queries.NftablesListing(netns, command)));

    public IReadOnlyList<string>? IptablesChainRules(uint netns, string family, string table, string chain) =>
        Once(("iptables-rules", netns, family, table, chain),
             () => queries.Remembered(("iptables-rules", netns, family, table, chain), NodeQueries.ListingsFor, () => queries.IptablesChainRules(netns, family, table, chain)));

    public NamespaceQueueFiles? NfQueueFiles(uint netns) => Once(("nfqueue-files", netns), () => queries.NfQueueFiles(netns));

    public string? InterfaceName(uint ifindex) => Once(("interface-name", ifindex), () => queries.InterfaceName(ifindex));

    public string? CalicoPolicyDebugFile(string name) => Once(("calico-policy-debug", name), () => queries.CalicoPolicyDebugFile(name));

    public IReadOnlyList<int> SocketHolders(ulong inode) => Once(("socket-holders", inode), () => queries.SocketHolders(inode));
}
