using System.Text.RegularExpressions;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Calico's eBPF dataplane: felix's tc, tcx and XDP programs. A program is taken for felix's only on strong evidence: its
/// name is one felix gives (as the kernel keeps it, 15 characters), and what keeps it is felix's — a pin where felix
/// pins its attachments, a calico-node process holding it, or, where nothing holds or pins it (a tc filter felix
/// attached and closed), the attachment on the device itself. A felix-named program held by another process, or pinned
/// elsewhere, is not claimed. The kernel does not say which policy of the program dropped a packet: the owner names the
/// interface and, where felix wrote them, the policies applied there.
/// </summary>
internal static partial class CalicoDataplaneOwners
{
    private const int KernelNameLength = 15; // BPF_OBJ_NAME_LEN less its NUL

    // The programs felix loads: the entry points it attaches (felix/bpf-gpl/tc_preamble.c cali_tc_preamble,
    // xdp_preamble.c cali_xdp_preamble; felix/bpf/tc/attach.go attaches "cali_tc_preamble"), the programs they jump to
    // (felix/bpf-gpl/tc.c, xdp.c, policy_default.c) and its log filter (felix/dataplane/linux/bpf_ep_mgr.go).
    private static readonly string[] ProgramNames =
    [
        "cali_tc_preamble", "cali_xdp_preamble",
        "calico_tc_main", "calico_tc_skb_accepted_entrypoint", "calico_tc_skb_new_flow_entrypoint", "calico_tc_skb_icmp_inner_nat",
        "calico_tc_skb_send_tcp_rst", "calico_tc_skb_send_icmp_replies", "calico_tc_host_ct_conflict", "calico_tc_skb_drop",
        "calico_tc_skb_ipv4_frag", "calico_tc_allow", "calico_tc_deny",
        "calico_xdp_main", "calico_xdp_norm_pol_tail", "calico_xdp_accepted_entrypoint", "calico_xdp_drop",
        "calico_log_filter",
    ];

    // Policy programs (bpf_ep_mgr.go policyProgramName): "p" + IP version + the policy direction's first letter as felix's
    // rules.RuleDir spells it ("Ingress", "Egress") or "xdp", "_", the interface; a program split in parts names the
    // others by its first 12 characters and "_<n>".
    [GeneratedRegex("^p[46][IEx]_[^/ ]{1,11}$")]
    private static partial Regex PolicyProgramName();

    // Where felix pins a tcx or netkit attachment's link (felix/bpf/tc/attach.go ProgPinPath, NetkitProgPinPath;
    // felix/bpf/bpfdefs/defs.go TcxPinDir, NetkitPinDir): <bpffs>/tcx/<iface without dots>_<hook>.
    [GeneratedRegex("^(?:tcx|netkit)/(?<iface>[^/]+)_(?<hook>ingress|egress)$")]
    private static partial Regex FelixPin();

    /// <summary>Whether a program's name (as the kernel or a JIT symbol has it) is one felix gives its programs.</summary>
    public static bool IsFelixProgramName(string? name) =>
        name is { Length: > 0 } &&
        (ProgramNames.Any(felix => felix == name || (name.Length == KernelNameLength && felix.StartsWith(name, StringComparison.Ordinal))) ||
         PolicyProgramName().IsMatch(name));

    /// <summary>The interface and tc hook a pin where felix pins its attachments names, relative to the bpffs it is in; null for any other pin.</summary>
    public static (string Interface, string Hook)? FelixPinned(BpfPin pin)
    {
        var mount = pin.Mount ?? "/sys/fs/bpf";
        var relative = Path.GetRelativePath(mount, pin.Path);
        return relative.StartsWith("..", StringComparison.Ordinal) || FelixPin().Match(relative) is not { Success: true } m
            ? null
            : (m.Groups["iface"].Value, m.Groups["hook"].Value);
    }

    /// <summary>Whether a process is felix: calico-node (felix runs as "calico-node -felix") or a felix binary of its own.</summary>
    public static bool IsFelix(OwnerProcess process) =>
        process.Comm is "calico-node" or "calico-felix" ||
        Path.GetFileName(process.Exe) is "calico-node" or "calico-felix";

    /// <summary>
    /// The owner of <paramref name="culprit"/>'s program when it is felix's; null when the evidence is not strong enough.
    /// <paramref name="kept"/>: what keeps the program (holders or pin) as <see cref="BpfProgramOwners"/> found it;
    /// <paramref name="device"/>: the interface the culprit's attachment is on, where the culprit has one.
    /// </summary>
    public static CulpritOwner? Of(Culprit culprit, IReadOnlyList<BpfHolder> holders, IReadOnlyList<BpfPin> pins, CulpritOwner? kept,
                                   string? device, int ipVersion, NodeAnswers node)
    {
        if (!IsFelixProgramName(culprit.ProgramName))
            return null;
        var holding = holders.Select(h => node.Process(h.Pid)).OfType<OwnerProcess>().ToList();
        if (holding.Any(p => !IsFelix(p)))
            return null; // another process holds it: a program that only borrows felix's name
        var felixPin = pins.Select(p => (Pin: p, Names: FelixPinned(p))).FirstOrDefault(p => p.Names is not null);
        var attached = culprit.Attach is CulpritAttach.Tc or CulpritAttach.Tcx or CulpritAttach.Xdp && device is not null;
        var evidence = new List<string> { $"program name {culprit.ProgramName} is one felix gives its programs (felix/bpf-gpl, cut to {KernelNameLength} characters by the kernel)" };
        if (felixPin.Names is { } pinned)
            evidence.Add($"pinned at {felixPin.Pin.Path}, where felix pins its tcx/netkit attachment of {pinned.Interface} {pinned.Hook}");
        else if (holding.Count > 0)
            evidence.Add($"held by felix: {string.Join(", ", holding.Select(p => $"{p.Comm} (pid {p.Pid})"))}");
        else if (attached && holders.Count == 0 && pins.Count == 0)
            evidence.Add($"attached to {device} ({culprit.Attach?.WireName()} {culprit.Hook}); no process holds it and no pin keeps it, as felix leaves the tc filters it attaches");
        else
            return null;

        var iface = device ?? felixPin.Names?.Interface;
        var hook = culprit.Attach == CulpritAttach.Xdp ? "xdp" : culprit.Hook ?? felixPin.Names?.Hook;
        var where = iface is null ? "" : $" at {Describe(iface, hook)}";
        var summary = $"Calico's eBPF dataplane (felix) dropped it{where}: a Calico policy, or felix's own checks; the kernel does not say which policy";
        if (iface is not null && hook is not null && CalicoPolicyDebug.At(iface, hook, ipVersion, node) is { } debug)
        {
            evidence.Add(debug.Policies.Count == 0
                ? $"{debug.File} (felix's bpfPolicyDebugEnabled): no policy applies there"
                : $"{debug.File} (felix's bpfPolicyDebugEnabled): {string.Join("; ", debug.Policies)}");
            if (debug.Error is { } error)
                evidence.Add($"{debug.File}: felix could not build the policy program: {error}");
            if (debug.Policies.Count > 0)
                summary += $"; policies applied there, in order: {string.Join(", ", debug.Policies)}";
        }
        return new CulpritOwner
        {
            Kind = OwnerKind.CalicoDataplane, Name = iface ?? "felix", Summary = summary, Confidence = CulpritConfidence.Inferred,
            Evidence = [.. evidence, .. kept?.Evidence ?? []],
            Processes = kept?.Processes, PinPath = kept?.PinPath, Pod = kept?.Pod, Container = kept?.Container, Workload = kept?.Workload, Package = kept?.Package,
        };
    }

    /// <summary>
    /// The interface in words. On a workload interface (felix's default prefix "cali") the tc hooks are the host's view:
    /// ingress is traffic from the pod (its egress policy), egress traffic to it (its ingress policy).
    /// </summary>
    private static string Describe(string iface, string? hook) => (iface.StartsWith("cali", StringComparison.Ordinal), hook) switch
    {
        (true, "ingress") => $"workload interface {iface} (tc ingress: traffic from the pod, its egress policy)",
        (true, "egress") => $"workload interface {iface} (tc egress: traffic to the pod, its ingress policy)",
        (_, "xdp") => $"interface {iface} (XDP)",
        (_, null) => $"interface {iface}",
        _ => $"interface {iface} (tc {hook})",
    };
}
