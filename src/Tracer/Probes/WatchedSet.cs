using System.Net;
using System.Net.Sockets;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// The addresses and prefixes whose drops are reported, mirrored into the probe's maps: single
/// addresses into a hash map (one cheap lookup per drop), prefixes into an LPM trie that the probe
/// consults only while it holds any. Updatable while the probe runs. IPv4 is stored IPv4-mapped.
/// </summary>
internal sealed class WatchedSet(BpfMap hosts, BpfMap prefixes, BpfMap prefixCount)
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
            if (!_entries.Add(network))
                return;
            if (IsHost(network))
                hosts.Update(ToAddress(network.BaseAddress), (byte)1);
            else
                prefixes.Update(ToKey(network), (byte)1);
            PublishPrefixCount();
        }
    }

    public bool Remove(IPNetwork network)
    {
        lock (_gate)
        {
            if (!_entries.Remove(network))
                return false;
            if (IsHost(network))
                hosts.Delete(ToAddress(network.BaseAddress));
            else
                prefixes.Delete(ToKey(network));
            PublishPrefixCount();
            return true;
        }
    }

    private static bool IsHost(IPNetwork network) =>
        network.PrefixLength == (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);

    private void PublishPrefixCount() => prefixCount.Update(0u, (uint)_entries.Count(n => !IsHost(n)));

    internal static unsafe watch_addr ToAddress(IPAddress address)
    {
        var key = new watch_addr();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            address = address.MapToIPv6();
        address.TryWriteBytes(new Span<byte>(key.addr, DropEvent.TRACER_ADDR_LEN), out _);
        return key;
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
