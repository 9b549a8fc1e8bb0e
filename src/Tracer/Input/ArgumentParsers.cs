using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Tracer.Input;

/// <summary>
/// Parsers for option and setting values; each returns null and an error (the value, what is wrong,
/// an example of a right one) on bad input. The same parser serves the command line, the daemon's
/// settings file and TRACER_* variables, and the control socket.
/// </summary>
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
            error = $"{Quote(text)} is not an IP address or CIDR (examples: 10.0.0.5, 10.0.0.0/24, fd00::/64)";
            return null;
        }
        var bits = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            error = $"{Quote(text)} is not a valid CIDR: the prefix length must be 0 to {bits} (e.g. 10.0.0.0/24)";
            return null;
        }
        var network = new IPNetwork(Mask(address, prefix), prefix);
        if (!network.BaseAddress.Equals(address))
        {
            error = $"{Quote(text)} is not a valid CIDR: it has host bits set (did you mean {network}?)";
            return null;
        }
        return network;
    }

    /// <summary>One address, IPv4 or IPv6 (a /32 or /128 written as a prefix is one address too).</summary>
    public static IPAddress? ParseAddress(string text, out string? error)
    {
        var network = ParseNetwork(text, out error);
        if (network is { PrefixLength: 32 or 128 })
            return network.Value.BaseAddress;
        error ??= $"{Quote(text)} is a prefix, not one address (e.g. 10.244.1.5)";
        return null;
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

    /// <summary>"30s", "2m", "1h", "500ms", or a plain number of seconds; more than nothing and at most <paramref name="max"/> (a year).</summary>
    public static TimeSpan? ParseDuration(string text, out string? error, TimeSpan? min = null, TimeSpan? max = null)
    {
        error = null;
        var (number, unit) = text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : (text, 1.0);
        // Plain decimals only: no exponent, sign, spaces or thousands separators to misread.
        if (!DecimalNumber().IsMatch(number) ||
            !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || !(value > 0))
        {
            error = $"{Quote(text)} is not a duration (examples: 30s, 5m, 1h, 500ms)";
            return null;
        }
        var upper = max ?? MaxDuration;
        if (value * unit > upper.TotalSeconds || (min is { } lower && value * unit < lower.TotalSeconds))
        {
            error = $"{Quote(text)} is not between {Format(min ?? TimeSpan.FromMilliseconds(1))} and {Format(upper)} (examples: 30s, 5m, 1h, 500ms)";
            return null;
        }
        return TimeSpan.FromSeconds(value * unit);
    }

    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(365);

    /// <summary>A duration the way <see cref="ParseDuration"/> reads it.</summary>
    public static string Format(TimeSpan duration) =>
        duration.TotalDays >= 1 ? FormattableString.Invariant($"{duration.TotalHours:0.###}h")
        : duration.TotalHours >= 1 && duration.TotalSeconds % 3600 == 0 ? FormattableString.Invariant($"{duration.TotalHours:0}h")
        : duration.TotalMinutes >= 1 && duration.TotalSeconds % 60 == 0 ? FormattableString.Invariant($"{duration.TotalMinutes:0}m")
        : duration.TotalSeconds >= 1 ? FormattableString.Invariant($"{duration.TotalSeconds:0.###}s")
        : FormattableString.Invariant($"{duration.TotalMilliseconds:0.###}ms");

    /// <summary>A TCP or UDP port, 1 to 65535 (0 too when <paramref name="zeroMeans"/> says what it means), in decimal.</summary>
    public static int? ParsePort(string text, out string? error, string? zeroMeans = null)
    {
        error = null;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535 &&
            (text == "0" ? zeroMeans is not null : port >= 1 && text[0] != '0'))
            return port;
        error = $"{Quote(text)} is not a port: 1 to 65535{(zeroMeans is null ? "" : $", or 0 for {zeroMeans}")} (e.g. 8080)";
        return null;
    }

    /// <summary>A pod as NAMESPACE/NAME, each as Kubernetes allows it (a DNS label / a DNS subdomain).</summary>
    public static (string Namespace, string Name)? ParsePod(string text, out string? error)
    {
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && DnsLabel().IsMatch(text[..slash]) && IsDnsSubdomain(text[(slash + 1)..]))
            return (text[..slash], text[(slash + 1)..]);
        error = $"{Quote(text)} is not a pod as NAMESPACE/NAME (e.g. kube-system/coredns-5d78c9869d-4xkzp)";
        return null;
    }

    /// <summary>A node's name: a DNS subdomain, as Kubernetes requires.</summary>
    public static string? ParseNodeName(string text, out string? error)
    {
        error = IsDnsSubdomain(text) ? null : $"{Quote(text)} is not a node name: lower-case letters, digits, '-' and '.', at most 253 (e.g. worker-1)";
        return error is null ? text : null;
    }

    private static bool IsDnsSubdomain(string text) =>
        text.Length <= 253 && text.Split('.').All(label => DnsLabel().IsMatch(label));

    /// <summary>An absolute path of a file that exists.</summary>
    public static string? ParseExistingFile(string text, out string? error)
    {
        error = text.Length == 0 || text.Contains('\0', StringComparison.Ordinal) ? $"{Quote(text)} is not a file name (e.g. /etc/tracer/appsettings.json)"
            : !File.Exists(text) ? $"{Quote(text)} does not exist (e.g. /etc/tracer/appsettings.json)"
            : null;
        return error is null ? text : null;
    }

    /// <summary>An absolute path a Unix socket can have (sun_path holds 107 bytes and a NUL).</summary>
    public static string? ParseSocketPath(string text, out string? error)
    {
        error = !Path.IsPathRooted(text) || text.Contains('\0', StringComparison.Ordinal) ? $"{Quote(text)} is not an absolute path (e.g. /run/tracer/tracer.sock)"
            : Encoding.UTF8.GetByteCount(text) > 107 ? $"{Quote(text)} is longer than a Unix socket path may be (107 bytes; e.g. /run/tracer/tracer.sock)"
            : null;
        return error is null ? text : null;
    }

    /// <summary>An HTTP request path, as a probe's httpGet.path.</summary>
    public static string? ParseHttpPath(string text, out string? error)
    {
        error = HttpPath().IsMatch(text) ? null : $"{Quote(text)} is not an HTTP path: it starts with '/', without spaces, at most 2048 characters (e.g. /healthz)";
        return error is null ? text : null;
    }

    /// <summary>An on-demand session's id, as the daemon hands them out (s1, s2, …).</summary>
    public static string? ParseSessionId(string text, out string? error)
    {
        error = SessionId().IsMatch(text) ? null : $"{Quote(text)} is not a session id (e.g. s3, as 'tracer session list' shows)";
        return error is null ? text : null;
    }

    /// <summary>One of a few words.</summary>
    public static string? ParseChoice(string text, IReadOnlyList<string> choices, out string? error)
    {
        error = choices.Contains(text) ? null : $"{Quote(text)} is not one of {string.Join(", ", choices)}{DidYouMean(text, choices)}";
        return error is null ? text : null;
    }

    /// <summary>" (did you mean x?)" when one candidate is a likely typo or abbreviation of <paramref name="given"/>, else "".</summary>
    public static string DidYouMean(string given, IEnumerable<string> candidates)
    {
        var typed = given.ToLowerInvariant();
        var best = candidates
            .Select(c => (Candidate: c, Distance: typed.Length >= 3 && c.StartsWith(typed, StringComparison.OrdinalIgnoreCase) ? 0 : EditDistance(typed, c.ToLowerInvariant())))
            .Where(c => c.Distance <= Math.Max(1, c.Candidate.Length / 3))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        return best.Candidate is null ? "" : $" (did you mean {best.Candidate}?)";
    }

    /// <summary>Edits from one word to the other, a swap of neighbours counting as one (optimal string alignment).</summary>
    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 8)
            return int.MaxValue;
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    /// <summary>A value as an error message shows it: quoted, control characters escaped, cut short when long, so the message stays one line.</summary>
    public static string Quote(string text)
    {
        const int Longest = 64;
        var shown = new StringBuilder("'");
        foreach (var c in text.Length > Longest ? text[..Longest] : text)
            shown.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        if (text.Length > Longest)
            shown.Append(CultureInfo.InvariantCulture, $"…' ({text.Length} characters)");
        else
            shown.Append('\'');
        return shown.ToString();
    }

    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\z")]
    private static partial Regex DottedQuad();

    [GeneratedRegex(@"^[0-9]+(\.[0-9]+)?\z")]
    private static partial Regex DecimalNumber();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\z")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^/[\x21-\x7e]{0,2047}\z")]
    private static partial Regex HttpPath();

    [GeneratedRegex(@"^s[1-9][0-9]{0,9}\z")]
    private static partial Regex SessionId();
}
