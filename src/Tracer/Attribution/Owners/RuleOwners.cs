using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>The Kubernetes object whose rules kube-proxy, Calico or a NetworkPolicy controller wrote.</summary>
internal static class RuleOwners
{
    public static CulpritOwner? Of(Culprit culprit, DropFlow flow, NodeAnswers node) => null;
}
