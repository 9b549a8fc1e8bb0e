using System.Globalization;
using System.Net;

namespace Tracer.Cli;

/// <summary>Parsers for option values; each returns null and an error sentence on bad input.</summary>
internal static class ArgumentParsers
{
    /// <summary>An address (a /32 or /128) or a CIDR prefix, IPv4 or IPv6.</summary>
    public static IPNetwork? ParseNetwork(string text, out string? error)
    {
        error = null;
        if (IPAddress.TryParse(text, out var address) && !text.Contains('/'))
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        if (IPNetwork.TryParse(text, out var network))
            return network;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        error = slash > 0 && IPAddress.TryParse(text[..slash], out _) && int.TryParse(text[(slash + 1)..], out _)
            ? $"'{text}' is not a valid CIDR: the prefix length is out of range or host bits are set below it"
            : $"'{text}' is not an IP address or CIDR (examples: 10.0.0.5, 10.0.0.0/24, fd00::/64)";
        return null;
    }

    /// <summary>"30s", "2m", "1h", "500ms", or a plain number of seconds.</summary>
    public static TimeSpan? ParseDuration(string text, out string? error)
    {
        error = null;
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : (text, 1.0);
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && !double.IsInfinity(value))
            return TimeSpan.FromSeconds(value * unit);
        error = $"'{text}' is not a duration (examples: 30s, 5m, 1h, 500ms)";
        return null;
    }
}
