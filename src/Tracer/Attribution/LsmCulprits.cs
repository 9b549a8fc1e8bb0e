using Tracer.Kernel;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>Culprits named by Linux Security Modules' evidence: SELinux's own denials, BPF-LSM programs, the active LSMs.</summary>
internal static class LsmCulprits
{
    /// <summary>
    /// SELinux's own verdict: an enforced denial came just before the drop, on the same CPU, and the drop is one
    /// SELinux makes — at its netfilter hooks (selinux_ip_*), at the receiving socket's LSM hook (SOCKET_FILTER),
    /// at an LSM hook (SECURITY_HOOK), or a netfilter drop no observer pinned to a hook. Any other culprit stands:
    /// the denial then concerned something else.
    /// </summary>
    public static Culprit? DeniedBySelinux(Culprit culprit, string reason, SelinuxDenial denial)
    {
        var lsmDrop = reason is DropReasons.SocketFilter or DropReasons.SecurityHook;
        var fits = culprit.Kind switch
        {
            CulpritKind.Lsm => lsmDrop || culprit.LsmName is null or CulpritLsm.Selinux,
            CulpritKind.NetfilterHook => culprit.Function is null,
            CulpritKind.KernelStack => lsmDrop,
            _ => false,
        };
        if (!fits)
            return null;
        var (source, target) = (SelinuxDenial.TypeOf(denial.Scontext), SelinuxDenial.TypeOf(denial.Tcontext));
        var where = culprit.Hook is { } hook ? $" at {hook}{(culprit.Priority is { } priority ? $" priority {priority}" : "")}{(culprit.Function is { } f ? $" ({f})" : "")}"
            : reason == DropReasons.SocketFilter ? " as the receiving socket took the packet" : "";
        return culprit with
        {
            Kind = CulpritKind.Lsm, LsmName = CulpritLsm.Selinux, Confidence = CulpritConfidence.Exact,
            ProgramId = null, ProgramName = null, Attach = null, Explanation = null,
            Scontext = denial.Scontext, Tcontext = denial.Tcontext, Tclass = denial.Tclass, Permissions = denial.Permissions,
            Evidence = [.. culprit.Evidence, $"SELinux (enforcing) denied it just before, on the same CPU: {denial}"],
            Summary = $"denied by SELinux{where}: the enforcing policy does not let {source} {denial.Permissions} a {denial.Tclass} labeled {target}",
            Check = $"The policy's rules for {source} on {target}:{denial.Tclass} (sesearch --allow -s {source} -t {target} -c {denial.Tclass}; " +
                    "the audit log's AVC records), and where the label comes from (secmark rules: nft list ruleset | grep secmark, iptables -t security -S).",
        };
    }

    /// <summary>An LSM denied the packet: the active LSMs and the node's BPF-LSM programs are the evidence.</summary>
    public static Culprit SecurityHook(NodeAnswers node, List<string> evidence)
    {
        var active = node.ActiveLsms();
        evidence.Add(active is null ? "active LSMs unknown (securityfs not mounted)" : $"active LSMs: {active}");
        return BpfLsmProgram(node, evidence) ?? new Culprit
        {
            Kind = CulpritKind.Lsm, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
            Summary = $"denied by a Linux Security Module hook ({active ?? "SELinux, AppArmor or BPF-LSM"})",
        };
    }

    /// <summary>
    /// A socket refused the packet (SOCKET_FILTER): its own filter, or an LSM's socket_sock_rcv_skb hook,
    /// which the kernel reports the same way. With exactly one BPF-LSM program on the node, that one.
    /// </summary>
    public static Culprit? SocketFilter(NodeAnswers node, List<string> evidence)
    {
        var culprit = BpfLsmProgram(node, evidence);
        if (culprit is not null)
            evidence.Add("a socket filter and an LSM's socket_sock_rcv_skb hook both report SOCKET_FILTER; the LSM program is the likelier");
        return culprit;
    }

    /// <summary>The node's BPF-LSM programs as evidence; the culprit when there is exactly one.</summary>
    private static Culprit? BpfLsmProgram(NodeAnswers node, List<string> evidence)
    {
        var programs = node.LsmPrograms();
        if (programs.Count > 0)
            evidence.Add("BPF-LSM programs: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id})")));
        if (programs.Count != 1)
            return null;
        return new Culprit
        {
            Kind = CulpritKind.Lsm, Confidence = CulpritConfidence.Inferred, Evidence = evidence, LsmName = CulpritLsm.Bpf,
            ProgramId = programs[0].Id, ProgramName = programs[0].Name, Attach = CulpritAttach.Lsm,
            Summary = $"denied by BPF-LSM program {programs[0].Name} (id {programs[0].Id}), the only one loaded",
        };
    }
}
