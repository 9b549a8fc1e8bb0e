using System.Net;
using System.Net.Sockets;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// The addresses and prefixes whose drops are reported, mirrored into the BPF LPM trie.
/// Updatable while the probe runs. IPv4 is stored IPv4-mapped, so one trie serves both families.
/// </summary>
internal sealed class WatchedSet(BpfMap trie)
{
    private readonly HashSet<IPNetwork> _entries = [];
    private readonly Lock _gate = new();

    public IReadOnlyCollection<IPNetwork> Entries
    {
        get
        {
            lock (_gate)
                return [.. _entries];
        }
    }

    public void Add(IPNetwork network)
    {
        lock (_gate)
        {
            trie.Update(ToKey(network), (byte)1);
            _entries.Add(network);
        }
    }

    public bool Remove(IPNetwork network)
    {
        lock (_gate)
        {
            trie.Delete(ToKey(network));
            return _entries.Remove(network);
        }
    }

    internal static unsafe watch_key ToKey(IPNetwork network)
    {
        var key = new watch_key();
        var address = network.BaseAddress;
        var prefix = network.PrefixLength;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address = address.MapToIPv6();
            prefix += 96;
        }
        address.TryWriteBytes(new Span<byte>(key.addr, DropEvent.TRACER_ADDR_LEN), out _);
        key.prefixlen = (uint)prefix;
        return key;
    }
}
