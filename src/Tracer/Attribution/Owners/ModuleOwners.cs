using Tracer.Records;

namespace Tracer.Attribution.Owners;

/// <summary>A kernel module's file, modinfo fields, taint and package.</summary>
internal static class ModuleOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node) => null;
}
