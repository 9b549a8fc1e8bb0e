using Tracer.Native;

namespace Tracer.Attribution;

/// <summary>
/// Where attribution asks the node about what the probes cannot see: BPF programs on devices, cgroups and
/// LSM hooks, module taint, iptables-legacy counters. Tests replace a question with its answer.
/// </summary>
internal sealed class NodeQueries
{
    private readonly IptablesLegacy _iptablesLegacy = new();

    public Func<string, string?> ModuleTaint { get; init; } = ReadModuleTaint;
    public Func<uint, string, IReadOnlyList<DeviceProgram>> TcPrograms { get; init; } = DevicePrograms.Tc;
    public Func<uint, IReadOnlyList<DeviceProgram>> XdpPrograms { get; init; } = DevicePrograms.Xdp;
    public Func<IReadOnlyList<CgroupProgram>> CgroupEgressPrograms { get; init; } = CgroupPrograms.Egress;
    public Func<IReadOnlyList<(uint Id, string Name)>> LsmPrograms { get; init; } = BpfLsmPrograms;

    /// <summary>The active LSMs as securityfs lists them ("lockdown,capability,selinux,bpf"), null without securityfs.</summary>
    public Func<string?> ActiveLsms { get; init; } = ReadActiveLsms;

    /// <summary>AppArmor's network denials of the last seconds, oldest first, from the kernel's audit records.</summary>
    public Func<IReadOnlyList<Owners.ApparmorDenial>> ApparmorDenials { get; init; } = RecentApparmorDenials;

    /// <summary>iptables-legacy rules whose drop counters grew since the last look (family, table, chain).</summary>
    public Func<string, string, string, IReadOnlyList<LegacyRule>> IptablesLegacyDropping { get; init; }

    /// <summary>A loaded module's owner: its file, modinfo fields, signer, taint and package (kept per module: <see cref="Owners.ModuleOwnerCache"/>).</summary>
    public Func<string, Records.CulpritOwner?> ModuleOwner { get; init; }

    public NodeQueries()
    {
        IptablesLegacyDropping = _iptablesLegacy.DroppingRules;
        ModuleOwner = new Owners.ModuleOwnerCache(Owners.ModuleSources.Node).Of;
    }

    /// <summary>Answers for one interval: each question asked at most once, however many drops need it.</summary>
    public NodeAnswers ForInterval() => new(this);

    /// <summary>Taint letters of a loaded module ('O' out-of-tree, 'E' unsigned), or null if unknown.</summary>
    private static string? ReadModuleTaint(string module)
    {
        var path = $"/sys/module/{module}/taint";
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    private static IReadOnlyList<Owners.ApparmorDenial> RecentApparmorDenials() =>
        [.. Kernel.KernelLog.Recent(TimeSpan.FromSeconds(10)).Select(Owners.ApparmorDenial.Parse).OfType<Owners.ApparmorDenial>()];

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

    public IReadOnlyList<Owners.ApparmorDenial> ApparmorDenials() => Once("apparmor-denials", queries.ApparmorDenials);

    public IReadOnlyList<LegacyRule> IptablesLegacyDropping(string family, string table, string chain) =>
        Once(("iptables-legacy", family, table, chain), () => queries.IptablesLegacyDropping(family, table, chain));

    public Records.CulpritOwner? ModuleOwner(string module) => Once(("module-owner", module), () => queries.ModuleOwner(module));
}
