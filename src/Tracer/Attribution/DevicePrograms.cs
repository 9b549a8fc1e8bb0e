using System.Text.Json;
using Tracer.Native;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>A BPF program attached to a network device (tc filter, tcx link or XDP).</summary>
internal sealed record DeviceProgram(uint Id, string Name, string Interface, CulpritAttach Attach);

/// <summary>
/// The BPF programs a device runs, as iproute2 reports them in JSON (<c>tc -j filter show</c>,
/// <c>ip -j link show</c>) in the namespace Tracer runs in. iproute2 decodes the netlink attributes
/// (cls_bpf options, IFLA_XDP) for us, where hand-written RTM_GETTFILTER/RTM_GETLINK parsing would
/// duplicate it. tcx links (6.6+), which Debian 12's iproute2 does not list, come from the kernel itself
/// (BPF_PROG_QUERY on the device).
/// </summary>
internal static class DevicePrograms
{
    // bpf_attach_type's tcx values from the kernel's BTF: null before 6.6.
    private static readonly Lazy<IReadOnlyDictionary<long, string>?> AttachTypes = new(() =>
    {
        using var btf = KernelBtf.Load();
        return btf.EnumValues("bpf_attach_type");
    });

    /// <summary>The BPF programs tc runs on the device in <paramref name="direction"/> (egress or ingress): tcx links, then cls_bpf filters.</summary>
    public static IReadOnlyList<DeviceProgram> Tc(uint ifindex, string direction)
    {
        if (InterfaceName(ifindex) is not { } name)
            return [];
        var filters = NodeTools.Run("tc", "-j", "filter", "show", "dev", name, direction) is { } json ? ParseTc(json, name, direction) : [];
        return [.. Tcx(ifindex, name, direction), .. filters];
    }

    private static IEnumerable<DeviceProgram> Tcx(uint ifindex, string device, string direction)
    {
        var wanted = direction == "ingress" ? "BPF_TCX_INGRESS" : "BPF_TCX_EGRESS";
        if (AttachTypes.Value?.FirstOrDefault(t => t.Value == wanted) is not { Value: not null } type)
            return [];
        try
        {
            return Proxy.bpf_prog_query(ifindex, (bpf_attach_type)type.Key)
                .Select(id => new DeviceProgram(id, LoadedBpfPrograms.NameOf(id) ?? "", device, CulpritAttach.Tcx))
                .ToList();
        }
        catch (NativeException)
        {
            return []; // the device went away, or the kernel refuses the query
        }
    }

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
            .Select(f => Program(f.GetProperty("options").GetProperty("prog"), device, CulpritAttach.Tc))
            .ToList();
    }

    internal static IReadOnlyList<DeviceProgram> ParseXdp(string json, string device)
    {
        using var links = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        return links.RootElement.EnumerateArray()
            .Where(l => l.TryGetProperty("xdp", out var x) && x.TryGetProperty("prog", out _))
            .Select(l => Program(l.GetProperty("xdp").GetProperty("prog"), device, CulpritAttach.Xdp))
            .ToList();
    }

    private static DeviceProgram Program(JsonElement prog, string device, CulpritAttach attach) =>
        new(prog.GetProperty("id").GetUInt32(), prog.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "", device, attach);

    /// <summary>The name of the device with this index in Tracer's network namespace; null when there is none.</summary>
    internal static string? InterfaceName(uint ifindex)
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
