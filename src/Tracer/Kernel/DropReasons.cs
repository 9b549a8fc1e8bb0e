using Tracer.Native;

namespace Tracer.Kernel;

/// <summary>
/// Names of <c>enum skb_drop_reason</c> as the running kernel numbers them, read from its BTF.
/// The numbering changes between kernel releases, so no number is ever written down here.
/// </summary>
internal sealed class DropReasons
{
    private const string Prefix = "SKB_DROP_REASON_";
    // Reasons of subsystems (mac80211, openvswitch, ...) carry the subsystem in the high bits.
    private const int SubsystemShift = 16;

    private readonly Dictionary<uint, string> _names = [];

    public DropReasons(IReadOnlyDictionary<long, string> enumerators)
    {
        // The tracepoint carries the reason as a u32; BTF may hold it sign-extended (SUBSYS_MASK).
        foreach (var (value, name) in enumerators)
            _names.TryAdd((uint)value, name.StartsWith(Prefix, StringComparison.Ordinal) ? name[Prefix.Length..] : name);
    }

    /// <summary>The name given to every drop where the kernel reports no reasons.</summary>
    public const string Unknown = "UNKNOWN";

    // The reasons Tracer's reasoning turns on, as the kernel names them (enum skb_drop_reason, without the prefix);
    // their values differ between kernels and are read from BTF.
    public const string NetfilterDrop = "NETFILTER_DROP";
    public const string SecurityHook = "SECURITY_HOOK";
    public const string SocketFilter = "SOCKET_FILTER";
    public const string TcEgress = "TC_EGRESS";
    public const string TcIngress = "TC_INGRESS";
    public const string Xdp = "XDP";
    public const string BpfCgroupEgress = "BPF_CGROUP_EGRESS";
    public const string NoSocket = "NO_SOCKET";
    public const string QueuePurge = "QUEUE_PURGE";

    /// <summary>False on kernels before 5.17, where kfree_skb carries no reason.</summary>
    public bool Available => _names.Count > 0;

    public int Count => _names.Count;

    public static DropReasons FromKernel(KernelBtf btf) => new(btf.EnumValues("skb_drop_reason") ?? new Dictionary<long, string>());

    public string Name(uint reason)
    {
        if (_names.TryGetValue(reason, out var name))
            return name;
        if (!Available)
            return Unknown;
        return reason >> SubsystemShift != 0
            ? $"SUBSYSTEM_{reason >> SubsystemShift}_{reason & 0xffff}"
            : $"REASON_{reason}";
    }

    /// <summary>The value this kernel uses for a reason name (without the prefix), if it has one.</summary>
    public uint? Value(string name) =>
        _names.FirstOrDefault(e => e.Value == name) is { Value: not null } match ? match.Key : null;
}
