using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// Takes a culprit one step further, to its owner: the Service, policy or profile whose rules kube-proxy, Calico
/// or a NetworkPolicy controller wrote (<see cref="RuleOwners"/>), the processes that hold a BPF program, or Calico's eBPF dataplane for felix's
/// (<see cref="BpfProgramOwners"/>), a kernel module's file, fields and package (<see cref="ModuleOwners"/>), the AppArmor profile the kernel's
/// audit records name (<see cref="ApparmorOwners"/>), the process listening on an NFQUEUE (<see cref="NfQueueOwners"/>).
/// The node is asked through <see cref="NodeAnswers"/>, so each question is asked once per interval.
/// </summary>
internal static class CulpritOwners
{
    public static Culprit Own(Culprit culprit, DropFlow flow, NodeAnswers node) =>
        culprit.Owner is null && Find(culprit, flow, node) is { } owner ? culprit with { Owner = owner } : culprit;

    private static CulpritOwner? Find(Culprit c, DropFlow flow, NodeAnswers node) => c.Kind switch
    {
        CulpritKind.NftablesRule or CulpritKind.NftablesPolicy or CulpritKind.IptablesRule => RuleOwners.Of(c, flow, node),
        CulpritKind.BpfProgram or CulpritKind.Lsm when c.ProgramId is not null => BpfProgramOwners.Of(c, node, flow.Ifindex, flow.IsIPv6 ? 6 : 4),
        CulpritKind.Lsm when c.Scontext is null => ApparmorOwners.Of(c, node),
        CulpritKind.NetfilterHook when c.Queue is not null => NfQueueOwners.Of(c, flow, node),
        CulpritKind.KernelModule or CulpritKind.NetfilterHook when c.Module is not null => ModuleOwners.Of(c, node),
        _ => null,
    };
}
