using System.Globalization;
using System.Net;

namespace Tracer.Cli;

/// <summary>Parsers for option values; each returns null and an error sentence on bad input.</summary>
internal static partial class ArgumentParsers
{
    /// <summary>An address (a /32 or /128) or a CIDR prefix, IPv4 or IPv6, with no host bits set.</summary>
    public static IPNetwork? ParseNetwork(string text, out string? error)
    {
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        // IPAddress.TryParse takes inet_aton's forms too ("010.0.0.1" octal, "10.1" short): only four plain decimal parts are IPv4.
        if (!IPAddress.TryParse(addressText, out var address) || addressText.Contains('%', StringComparison.Ordinal) ||
            (!addressText.Contains(':', StringComparison.Ordinal) && !DottedQuad().IsMatch(addressText)))
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
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value))
        {
            error = $"'{text}' is not a duration (examples: 30s, 5m, 1h, 500ms)";
            return null;
        }
        if (value * unit > MaxDuration.TotalSeconds)
        {
            error = $"'{text}' is longer than a year (examples: 30s, 5m, 1h, 500ms)";
            return null;
        }
        return TimeSpan.FromSeconds(value * unit);
    }

    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(365);

    /// <summary>A TCP or UDP port, 1 to 65535, in decimal.</summary>
    public static int? ParsePort(string text, out string? error)
    {
        error = null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535 && text[0] != '0')
            return port;
        error = $"'{text}' is not a port: 1 to 65535 (e.g. 8080)";
        return null;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")]
    private static partial System.Text.RegularExpressions.Regex DottedQuad();
}
