using System.Net;
using System.Net.Sockets;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// The addresses and prefixes whose drops are reported, mirrored into the probe's maps: single
/// addresses into a hash map (one cheap lookup per drop), prefixes into an LPM trie that the probe
/// consults only while it holds any. Each has a level: counted (the first few drops sampled) or
/// detailed (every drop sampled, with its stack). Updatable while the probe runs. IPv4 is stored IPv4-mapped.
/// </summary>
internal sealed class WatchedSet(BpfMap hosts, BpfMap prefixes, BpfMap prefixCount)
{
    private readonly Dictionary<IPNetwork, tracer_watch_level> _entries = [];
    private readonly Lock _gate = new();

    public IReadOnlyCollection<IPNetwork> Entries
    {
        get
        {
            lock (_gate)
                return [.. _entries.Keys];
        }
    }

    /// <summary>Makes the maps hold exactly <paramref name="wanted"/>, touching only what changed.</summary>
    public void Apply(IReadOnlyDictionary<IPNetwork, tracer_watch_level> wanted)
    {
        lock (_gate)
        {
            foreach (var network in _entries.Keys.Where(n => !wanted.ContainsKey(n)).ToList())
            {
                if (IsHost(network))
                    hosts.Delete(ToAddress(network.BaseAddress));
                else
                    prefixes.Delete(ToKey(network));
                _entries.Remove(network);
            }
            foreach (var (network, level) in wanted)
            {
                if (_entries.TryGetValue(network, out var known) && known == level)
                    continue;
                if (IsHost(network))
                    hosts.Update(ToAddress(network.BaseAddress), (byte)level);
                else
                    prefixes.Update(ToKey(network), (byte)level);
                _entries[network] = level;
            }
            prefixCount.Update(0u, (uint)_entries.Keys.Count(n => !IsHost(n)));
        }
    }

    private static bool IsHost(IPNetwork network) =>
        network.PrefixLength == (network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);

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
