using Tracer.Kernel;
using Tracer.Native;
using Tracer.Probes;
using static Tracer.Native.nf_inet_hooks;

namespace Tracer.Attribution;

/// <summary>
/// The netfilter hook point of a drop no sentinel saw, from its kernel stack: the function that
/// called into netfilter says which hook it was (the NF_HOOK call sites of the IPv4/IPv6 paths).
/// </summary>
internal static class HookInference
{
    private static readonly Dictionary<string, nf_inet_hooks> Callers = new(StringComparer.Ordinal)
    {
        ["ip_rcv"] = NF_INET_PRE_ROUTING, ["ip_list_rcv"] = NF_INET_PRE_ROUTING, ["ipv6_rcv"] = NF_INET_PRE_ROUTING, ["ipv6_list_rcv"] = NF_INET_PRE_ROUTING,
        ["ip_local_deliver"] = NF_INET_LOCAL_IN, ["ip6_input"] = NF_INET_LOCAL_IN,
        ["ip_forward"] = NF_INET_FORWARD, ["ip6_forward"] = NF_INET_FORWARD,
        ["__ip_local_out"] = NF_INET_LOCAL_OUT, ["ip_local_out"] = NF_INET_LOCAL_OUT, ["__ip6_local_out"] = NF_INET_LOCAL_OUT,
        ["ip6_local_out"] = NF_INET_LOCAL_OUT, ["ip6_xmit"] = NF_INET_LOCAL_OUT,
        ["ip_output"] = NF_INET_POST_ROUTING, ["ip6_output"] = NF_INET_POST_ROUTING,
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
                return (new HookPoint(flow.Netns, family, (byte)hook), frame);
        }
        return null;
    }
}
