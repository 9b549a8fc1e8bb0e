using Tracer.Kernel;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>Culprits named by where in the kernel a packet was freed: a module's code, or the stack itself (explained by <see cref="DropReasonGuide"/>).</summary>
internal sealed class KernelCulprits(DropReasonGuide guide)
{
    /// <summary>Code of a loadable module dropped it (or registered the hook that did): the module, and whether it is out of tree.</summary>
    public static Culprit InModule(KernelSymbol symbol, NodeAnswers node, List<string> evidence, CulpritConfidence confidence)
    {
        var taint = node.ModuleTaint(symbol.Module!);
        var outOfTree = taint?.Contains('O', StringComparison.Ordinal) == true;
        if (taint is not null)
            evidence.Add($"/sys/module/{symbol.Module}/taint: {(taint.Length == 0 ? "(none)" : taint)}");
        return new Culprit
        {
            Kind = CulpritKind.KernelModule, Confidence = confidence, Evidence = evidence,
            Function = symbol.Name, Module = symbol.Module, OutOfTree = taint is null ? null : outOfTree,
            Summary = $"dropped by function {symbol.Name} in {(outOfTree ? "out-of-tree " : "")}kernel module {symbol.Module} (not iptables, not nftables)",
        };
    }

    /// <summary>The reason a kernel without drop reasons cannot give, implied by the function that freed the packet.</summary>
    public string? ImpliedReason(KernelSymbol location) => guide.ImpliedBy(location.Name);

    /// <summary>Nothing but the stack: the reason, explained where the guide knows it.</summary>
    public Culprit Stack(string reason, KernelSymbol? location, List<string> evidence)
    {
        var where = location is { } l ? $" in {l.Name}" : "";
        if (guide.Lookup(reason) is not { } entry)
            return new Culprit
            {
                Kind = reason == DropReasons.Unknown ? CulpritKind.Unknown : CulpritKind.KernelStack, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
                Summary = $"dropped by the kernel{where} (reason {reason})",
            };
        return new Culprit
        {
            Kind = CulpritKind.KernelStack, Confidence = CulpritConfidence.Inferred, Evidence = evidence,
            Explanation = entry.Explanation, Check = entry.Check,
            Summary = $"dropped by the kernel's own stack{where}: {entry.Explanation}",
        };
    }
}
