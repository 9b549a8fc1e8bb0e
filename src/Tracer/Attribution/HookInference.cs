using Tracer.Kernel;
using Tracer.Probes;

namespace Tracer.Attribution;

/// <summary>
/// The netfilter hook point of a drop no sentinel saw, from its kernel stack: the function that
/// called into netfilter says which hook it was (the NF_HOOK call sites of the IPv4/IPv6 paths).
/// </summary>
internal static class HookInference
{
    private static readonly Dictionary<string, byte> Callers = new(StringComparer.Ordinal)
    {
        ["ip_rcv"] = 0, ["ip_list_rcv"] = 0, ["ipv6_rcv"] = 0, ["ipv6_list_rcv"] = 0,
        ["ip_local_deliver"] = 1, ["ip6_input"] = 1,
        ["ip_forward"] = 2, ["ip6_forward"] = 2,
        ["__ip_local_out"] = 3, ["ip_local_out"] = 3, ["__ip6_local_out"] = 3, ["ip6_local_out"] = 3, ["ip6_xmit"] = 3,
        ["ip_output"] = 4, ["ip6_output"] = 4,
    };

    /// <summary>The hook point of each netfilter drop in the interval whose sample has a stack (and of its aggregate: see <see cref="FlowIndex"/>).</summary>
    public static Dictionary<DropFlow, (HookPoint Point, string Caller)> FromSamples(DropInterval interval, Func<int, ulong[]> readStack, KernelSymbols symbols)
    {
        var points = new Dictionary<DropFlow, (HookPoint, string)>();
        foreach (var sample in interval.Samples)
        {
            var flow = DropFlow.From(sample.key);
            if (sample.stack_id < 0 || flow.HookPoint is not null || points.ContainsKey(flow) || !flow.IsIP)
                continue;
            if (FromStack(readStack(sample.stack_id).Select(a => symbols.Resolve(a)?.Name), flow) is { } found)
                FlowIndex.Add(points, flow, found);
        }
        return points;
    }

    internal static (HookPoint Point, string Caller)? FromStack(IEnumerable<string?> frames, DropFlow flow)
    {
        var family = HookPoint.FamilyOf(flow);
        var seenNetfilter = false;
        foreach (var frame in frames)
        {
            if (frame is null)
                continue;
            if (frame is "nf_hook_slow" or "nf_hook_slow_list")
                seenNetfilter = true;
            else if (seenNetfilter && Callers.TryGetValue(frame, out var hook))
                return (new HookPoint(flow.Netns, family, hook), frame);
        }
        return null;
    }
}
