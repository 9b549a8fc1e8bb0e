using System.Globalization;

namespace Tracer.Attribution;

/// <summary>A rule of an iptables-legacy chain, as iptables-legacy -S prints it.</summary>
internal sealed record LegacyRule(int Number, string Rule, long Packets);

/// <summary>
/// iptables-legacy (x_tables, no nftables trace): which rule of a chain dropped, from counter
/// deltas — the DROP/REJECT rules whose packet counters grew since the last look. Tracer's own
/// namespace only, through the iptables-legacy tools themselves.
/// </summary>
internal sealed class IptablesLegacy
{
    private readonly Dictionary<(string, string, string), Dictionary<int, long>> _lastCounters = [];

    /// <summary>The DROP/REJECT rules of the chain whose counters grew (or, on first look, that counted anything).</summary>
    public IReadOnlyList<LegacyRule> DroppingRules(string family, string table, string chain)
    {
        var tool = family == "ipv6" ? "ip6tables-legacy" : "iptables-legacy";
        // -w: wait a moment for the xtables lock (kube-proxy holds it while it syncs) instead of failing.
        if (NodeTools.Run(tool, "-w", "2", "-t", table, "-S", chain) is not { } specs ||
            NodeTools.Run(tool, "-w", "2", "-t", table, "-L", chain, "-v", "-x", "-n", "--line-numbers") is not { } listing)
            return [];
        var rules = specs.Split('\n').Where(l => l.StartsWith("-A ", StringComparison.Ordinal)).ToList();
        var counters = ParseCounters(listing);
        var key = (family, table, chain);
        var previous = _lastCounters.GetValueOrDefault(key);
        _lastCounters[key] = counters;
        return counters
            .Where(c => c.Key <= rules.Count && IsDrop(rules[c.Key - 1]) && c.Value > (previous?.GetValueOrDefault(c.Key) ?? 0))
            .Select(c => new LegacyRule(c.Key, rules[c.Key - 1], c.Value))
            .ToList();
    }

    private static bool IsDrop(string rule) => rule.Contains(" -j DROP", StringComparison.Ordinal) || rule.Contains(" -j REJECT", StringComparison.Ordinal);

    /// <summary>"num pkts bytes target ..." rows of <c>-L -v -x -n --line-numbers</c>.</summary>
    internal static Dictionary<int, long> ParseCounters(string listing)
    {
        var counters = new Dictionary<int, long>();
        foreach (var line in listing.Split('\n').Skip(2))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && int.TryParse(fields[0], CultureInfo.InvariantCulture, out var number) &&
                long.TryParse(fields[1], CultureInfo.InvariantCulture, out var packets))
                counters[number] = packets;
        }
        return counters;
    }

}
