using System.Globalization;
using System.Net;

namespace Tracer.Cli;

/// <summary>Parsers for option values; each returns null and an error sentence on bad input.</summary>
internal static class ArgumentParsers
{
    /// <summary>An address (a /32 or /128) or a CIDR prefix, IPv4 or IPv6, with no host bits set.</summary>
    public static IPNetwork? ParseNetwork(string text, out string? error)
    {
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addressText, out var address) || addressText.Contains('%', StringComparison.Ordinal))
        {
            error = $"'{text}' is not an IP address or CIDR (examples: 10.0.0.5, 10.0.0.0/24, fd00::/64)";
            return null;
        }
        var bits = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            error = $"'{text}' is not a valid CIDR: the prefix length must be 0 to {bits}";
            return null;
        }
        var network = new IPNetwork(Mask(address, prefix), prefix);
        if (!network.BaseAddress.Equals(address))
        {
            error = $"'{text}' is not a valid CIDR: it has host bits set (did you mean {network}?)";
            return null;
        }
        return network;
    }

    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
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
