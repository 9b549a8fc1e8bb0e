using Tracer.Kernel;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>Culprits named by the BPF programs the node runs on devices (tc, XDP) and cgroups, or by a drop inside one.</summary>
internal static class BpfProgramCulprits
{
    /// <summary>
    /// A drop whose reason (or location, for generic XDP) says a tc, XDP or cgroup program made it: with one such
    /// program where the drop happened, that one; else the kind of program. Null for any other drop.
    /// Devices are inspected in Tracer's own namespace only.
    /// </summary>
    public static Culprit? ByReason(IntervalEvidence seen, DropFlow flow, string reason, KernelSymbol? location, List<string> evidence)
    {
        var own = flow.Netns == seen.OwnNetns;
        if (reason is DropReasons.TcEgress or DropReasons.TcIngress && own)
        {
            var direction = reason == DropReasons.TcEgress ? "egress" : "ingress";
            if (OnDevice(seen.Node.TcPrograms(flow.Ifindex, direction), direction, evidence) is { } tc)
                return tc;
        }
        if ((reason == DropReasons.Xdp || location?.Name.StartsWith("do_xdp_generic", StringComparison.Ordinal) == true) && own &&
            OnDevice(seen.Node.XdpPrograms(flow.Ifindex), "ingress", evidence) is { } xdp)
            return xdp;
        if (reason == DropReasons.BpfCgroupEgress && OnCgroup(seen.Node.CgroupEgressPrograms(), evidence) is { } cgroup)
            return cgroup;
        return reason is DropReasons.TcEgress or DropReasons.TcIngress or DropReasons.Xdp or DropReasons.BpfCgroupEgress
            ? new Culprit
            {
                Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
                Attach = reason switch { DropReasons.TcEgress or DropReasons.TcIngress => CulpritAttach.Tc, DropReasons.Xdp => CulpritAttach.Xdp, _ => CulpritAttach.CgroupSkb },
                Summary = $"dropped by a BPF program ({reason switch { DropReasons.TcEgress => "tc egress", DropReasons.TcIngress => "tc ingress", DropReasons.Xdp => "XDP", _ => "cgroup egress" }}) on interface {flow.Ifindex}",
            }
            : null;
    }

    /// <summary>
    /// The drop happened inside a BPF program's JIT code: that program, by its symbol's name, and its id where exactly
    /// one loaded program has that tag and name (the same program loaded twice has two).
    /// </summary>
    public static Culprit ByLocation(KernelSymbol symbol, NodeAnswers node, List<string> evidence)
    {
        // JIT symbols read bpf_prog_<tag>_<name>.
        var parts = symbol.Name.Split('_', 4);
        var name = parts.Length == 4 ? parts[3] : symbol.Name;
        var id = parts.Length == 4 ? node.Remembered(("bpf-program-id", parts[2], name), () => IdOf(node.LoadedPrograms(), parts[2], name)) : null;
        if (id is not null)
            evidence.Add($"the only loaded BPF program with tag {parts[2]} and name {name} has id {id}");
        return new Culprit
        {
            Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Inferred, Evidence = evidence, ProgramId = id, ProgramName = name,
            Summary = id is null ? $"dropped inside BPF program {name}" : $"dropped inside BPF program {name} (id {id})",
        };
    }

    /// <summary>The id of the one loaded program with this tag and name (the kernel keeps 15 bytes of a name; the symbol may have more).</summary>
    private static uint? IdOf(IReadOnlyList<(uint Id, string Name, string Tag)> loaded, string tag, string name)
    {
        var matches = loaded.Where(p => p.Tag == tag && (p.Name == name || (p.Name.Length == 15 && name.StartsWith(p.Name, StringComparison.Ordinal)))).ToList();
        return matches.Count == 1 ? matches[0].Id : null;
    }

    /// <summary>The BPF programs (tc or XDP) the drop's device runs in that direction: with one, it is the culprit.</summary>
    private static Culprit? OnDevice(IReadOnlyList<DeviceProgram> programs, string direction, List<string> evidence)
    {
        if (programs.Count == 0)
            return null;
        var first = programs[0];
        var what = first.Attach == CulpritAttach.Xdp ? "XDP" : $"{first.Attach.WireName()} {direction}";
        evidence.Add($"{what} BPF programs on {first.Interface}: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id})")));
        return new Culprit
        {
            Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
            ProgramId = first.Id, ProgramName = first.Name, Attach = first.Attach, Hook = direction,
            Summary = programs.Count == 1
                ? $"dropped by {what} BPF program {first.Name} (id {first.Id}) on {first.Interface}"
                : $"dropped by one of {programs.Count} {what} BPF programs on {first.Interface}, first {first.Name} (id {first.Id})",
        };
    }

    /// <summary>The cgroup egress programs of the node: with one, it is the culprit.</summary>
    private static Culprit? OnCgroup(IReadOnlyList<CgroupProgram> programs, List<string> evidence)
    {
        if (programs.Count == 0)
            return null;
        var first = programs[0];
        evidence.Add("cgroup egress BPF programs: " + string.Join(", ", programs.Select(p => $"{p.Name} (id {p.Id}) on {p.Cgroup}")));
        return new Culprit
        {
            Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
            ProgramId = first.Id, ProgramName = first.Name, Attach = CulpritAttach.CgroupSkb, Hook = "egress",
            Summary = programs.Count == 1
                ? $"denied on egress by cgroup BPF program {first.Name} (id {first.Id}) attached to cgroup {first.Cgroup}"
                : $"denied on egress by one of {programs.Count} cgroup BPF programs, e.g. {first.Name} (id {first.Id}) on {first.Cgroup}",
        };
    }
}
