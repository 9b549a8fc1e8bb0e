using System.Diagnostics;
using System.Text.Json;

namespace Tracer.Attribution;

/// <summary>A BPF program attached as a tc filter.</summary>
internal sealed record TcProgram(uint Id, string Name, string Interface, string Direction);

/// <summary>
/// The BPF programs tc runs on a device, as iproute2's own <c>tc -j filter show</c> reports them
/// (in the namespace Tracer runs in). iproute2 decodes cls_bpf's netlink attributes for us, where a
/// hand-written RTM_GETTFILTER parser would duplicate it; tcx links (6.6+) are not listed by it yet.
/// </summary>
internal static class TcPrograms
{
    public static IReadOnlyList<TcProgram> On(uint ifindex, string direction)
    {
        if (InterfaceName(ifindex) is not { } name)
            return [];
        try
        {
            var start = new ProcessStartInfo("tc") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "-j", "filter", "show", "dev", name, direction })
                start.ArgumentList.Add(argument);
            using var tc = Process.Start(start)!;
            var output = tc.StandardOutput.ReadToEnd();
            tc.WaitForExit();
            return tc.ExitCode == 0 ? Parse(output, name, direction) : [];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return []; // no tc on this node
        }
    }

    internal static IReadOnlyList<TcProgram> Parse(string json, string device, string direction)
    {
        using var filters = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        return filters.RootElement.EnumerateArray()
            .Where(f => f.TryGetProperty("options", out var o) && o.TryGetProperty("prog", out _))
            .Select(f => f.GetProperty("options").GetProperty("prog"))
            .Select(p => new TcProgram(p.GetProperty("id").GetUInt32(), p.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "", device, direction))
            .ToList();
    }

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
