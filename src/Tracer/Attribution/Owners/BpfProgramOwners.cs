using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// The processes that hold a BPF program (its program or link descriptors, /proc/PID/fdinfo), their cgroup and
/// from it the pod and container, and the package of the executable; or, where no process holds it, its pin in
/// bpffs. The answer for a program id is kept for <see cref="NodeQueries.RememberedFor"/>: holders rarely change,
/// and the walks behind it cost a read per descriptor. The processes are described by
/// <see cref="ProcessOwners"/>.
/// </summary>
internal static class BpfProgramOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node) =>
        culprit.ProgramId is { } id ? node.Remembered(("bpf-program-owner", id), () => Find(id, node)) : null;

    private static CulpritOwner? Find(uint programId, NodeAnswers node)
    {
        if (node.BpfHolders().TryGetValue(programId, out var holders) && holders.Count > 0)
            return HeldBy(holders, node);
        var pins = node.BpfPins().Where(p => p.Info.ProgramId == programId).ToList();
        if (pins.Count == 0)
            return null;
        var what = pins.Count == 1 ? $"pinned at {pins[0].Path}" : $"pinned at {pins[0].Path} and {pins.Count - 1} more";
        return new CulpritOwner
        {
            Kind = OwnerKind.PinnedProgram, Name = pins[0].Path, PinPath = pins[0].Path, Confidence = CulpritConfidence.Exact,
            Summary = $"BPF program {programId} is {what}; no process holds it (a loader pinned it and exited)",
            Evidence = [.. pins.Select(p => $"{p.Path}: {p.Info}"), $"no process holds program {programId} (/proc/*/fdinfo)"],
        };
    }

    private static CulpritOwner? HeldBy(IReadOnlyList<BpfHolder> holders, NodeAnswers node) =>
        ProcessOwners.Of(holders.Select(h => h.Pid), "held by", [.. holders.Select(h => h.ToString())], node);
}
