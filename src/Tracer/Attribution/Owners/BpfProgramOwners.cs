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
    /// <summary>
    /// The owner of the culprit's program; <paramref name="ifindex"/>: the device its tc or XDP attachment is on (in Tracer's
    /// namespace), <paramref name="ipVersion"/> the dropped packet's. Felix's programs are Calico's eBPF dataplane's
    /// (<see cref="CalicoDataplaneOwners"/>), with the holders or pin found here.
    /// </summary>
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node, uint? ifindex = null, int ipVersion = 4)
    {
        if (culprit.ProgramId is not { } id)
            return null;
        // One program may be attached on several devices: an owner that names the device is kept per device.
        var device = culprit.Attach is CulpritAttach.Tc or CulpritAttach.Tcx or CulpritAttach.Xdp ? ifindex : null;
        return node.Remembered(("bpf-program-owner", id, ipVersion, device), () => Find(culprit, id, device, ipVersion, node));
    }

    private static CulpritOwner? Find(Culprit culprit, uint programId, uint? deviceIndex, int ipVersion, NodeAnswers node)
    {
        var holders = node.BpfHolders().TryGetValue(programId, out var held) ? held : [];
        var pins = holders.Count > 0 ? [] : node.BpfPins().Where(p => p.Info.ProgramId == programId).ToList();
        var kept = holders.Count > 0 ? HeldBy(holders, node) : Pinned(programId, pins);
        var device = deviceIndex is { } index ? node.InterfaceName(index) : null;
        if (holders.Count > 0 && kept is null)
            return null; // its holders exited since the walk
        return CalicoDataplaneOwners.Of(culprit, holders, pins, kept, device, ipVersion, node) ?? kept;
    }

    private static CulpritOwner? Pinned(uint programId, List<BpfPin> pins)
    {
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
