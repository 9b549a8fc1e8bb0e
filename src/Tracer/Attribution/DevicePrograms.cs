using System.Text.Json;

namespace Tracer.Attribution;

/// <summary>A BPF program attached to a network device (tc filter or XDP).</summary>
internal sealed record DeviceProgram(uint Id, string Name, string Interface, string Attach);

/// <summary>
/// The BPF programs a device runs, as iproute2 reports them in JSON (<c>tc -j filter show</c>,
/// <c>ip -j link show</c>) in the namespace Tracer runs in. iproute2 decodes the netlink attributes
/// (cls_bpf options, IFLA_XDP) for us, where hand-written RTM_GETTFILTER/RTM_GETLINK parsing would
/// duplicate it; tcx links (6.6+) are not listed by Debian 12's iproute2.
/// </summary>
internal static class DevicePrograms
{
    /// <summary>The BPF filters tc runs on the device in <paramref name="direction"/> (egress or ingress).</summary>
    public static IReadOnlyList<DeviceProgram> Tc(uint ifindex, string direction) =>
        InterfaceName(ifindex) is { } name && NodeTools.Run("tc", "-j", "filter", "show", "dev", name, direction) is { } json
            ? ParseTc(json, name, direction)
            : [];

    /// <summary>The XDP program of the device, if any.</summary>
    public static IReadOnlyList<DeviceProgram> Xdp(uint ifindex) =>
        InterfaceName(ifindex) is { } name && NodeTools.Run("ip", "-j", "link", "show", "dev", name) is { } json
            ? ParseXdp(json, name)
            : [];

    internal static IReadOnlyList<DeviceProgram> ParseTc(string json, string device, string direction)
    {
        using var filters = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        return filters.RootElement.EnumerateArray()
            .Where(f => f.TryGetProperty("options", out var o) && o.TryGetProperty("prog", out _))
            .Select(f => Program(f.GetProperty("options").GetProperty("prog"), device, "tc"))
            .ToList();
    }

    internal static IReadOnlyList<DeviceProgram> ParseXdp(string json, string device)
    {
        using var links = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        return links.RootElement.EnumerateArray()
            .Where(l => l.TryGetProperty("xdp", out var x) && x.TryGetProperty("prog", out _))
            .Select(l => Program(l.GetProperty("xdp").GetProperty("prog"), device, "xdp"))
            .ToList();
    }

    private static DeviceProgram Program(JsonElement prog, string device, string attach) =>
        new(prog.GetProperty("id").GetUInt32(), prog.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "", device, attach);

    private static string? InterfaceName(uint ifindex)
    {
        foreach (var directory in Directory.EnumerateDirectories("/sys/class/net"))
        {
            var path = Path.Combine(directory, "ifindex");
            if (File.Exists(path) && File.ReadAllText(path).Trim() == ifindex.ToString(System.Globalization.CultureInfo.InvariantCulture))
                return Path.GetFileName(directory);
        }
        return null;
    }
}
