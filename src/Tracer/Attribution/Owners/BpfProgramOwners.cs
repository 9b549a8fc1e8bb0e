using Tracer.Records;

namespace Tracer.Attribution.Owners;

/// <summary>The processes that hold a BPF program, their container and pod, and the package of their executable.</summary>
internal static class BpfProgramOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node) => null;
}
