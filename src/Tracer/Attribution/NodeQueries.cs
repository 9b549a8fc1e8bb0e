using Tracer.Native;

namespace Tracer.Attribution;

/// <summary>
/// Where attribution asks the node about what the probes cannot see: BPF programs on devices, cgroups and
/// LSM hooks, module taint, iptables-legacy counters. Tests replace a question with its answer.
/// </summary>
internal sealed class NodeQueries
{
    private const int ListingsKept = 256;
    private static readonly TimeSpan ListingLifetime = TimeSpan.FromSeconds(30);
    private readonly IptablesLegacy _iptablesLegacy = new();
    private readonly Dictionary<object, (long Until, object? Answer)> _listings = [];

    public Func<string, string?> ModuleTaint { get; init; } = ReadModuleTaint;
    public Func<uint, string, IReadOnlyList<DeviceProgram>> TcPrograms { get; init; } = DevicePrograms.Tc;
    public Func<uint, IReadOnlyList<DeviceProgram>> XdpPrograms { get; init; } = DevicePrograms.Xdp;
    public Func<IReadOnlyList<CgroupProgram>> CgroupEgressPrograms { get; init; } = CgroupPrograms.Egress;
    public Func<IReadOnlyList<(uint Id, string Name)>> LsmPrograms { get; init; } = BpfLsmPrograms;

    /// <summary>The active LSMs as securityfs lists them ("lockdown,capability,selinux,bpf"), null without securityfs.</summary>
    public Func<string?> ActiveLsms { get; init; } = ReadActiveLsms;

    /// <summary>iptables-legacy rules whose drop counters grew since the last look (family, table, chain).</summary>
    public Func<string, string, string, IReadOnlyList<LegacyRule>> IptablesLegacyDropping { get; init; }

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

    public NodeQueries() => IptablesLegacyDropping = _iptablesLegacy.DroppingRules;

    /// <summary>
    /// A listing asked within the last 30 s, else asked now: a drop flood keeps naming the same owner every interval, and
    /// must not list the same chain or map each time.
    /// </summary>
    internal T Listed<T>(object question, Func<T> ask)
    {
        var now = Environment.TickCount64;
        if (_listings.TryGetValue(question, out var kept) && kept.Until > now)
            return (T)kept.Answer!;
        if (_listings.Count >= ListingsKept)
            _listings.Clear();
        var answer = ask();
        _listings[question] = (now + (long)ListingLifetime.TotalMilliseconds, answer);
        return answer;
    }

    /// <summary>Answers for one interval: each question asked at most once, however many drops need it.</summary>
    public NodeAnswers ForInterval() => new(this);

    /// <summary>Taint letters of a loaded module ('O' out-of-tree, 'E' unsigned), or null if unknown.</summary>
    private static string? ReadModuleTaint(string module)
    {
        var path = $"/sys/module/{module}/taint";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

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

    public IReadOnlyList<LegacyRule> IptablesLegacyDropping(string family, string table, string chain) =>
        Once(("iptables-legacy", family, table, chain), () => queries.IptablesLegacyDropping(family, table, chain));

    public string? NftablesListing(uint netns, string command) =>
        Once(("nft-list", netns, command), () => queries.Listed(("nft-list", netns, command), () => queries.NftablesListing(netns, command)));

    public IReadOnlyList<string>? IptablesChainRules(uint netns, string family, string table, string chain) =>
        Once(("iptables-rules", netns, family, table, chain),
             () => queries.Listed(("iptables-rules", netns, family, table, chain), () => queries.IptablesChainRules(netns, family, table, chain)));
}
