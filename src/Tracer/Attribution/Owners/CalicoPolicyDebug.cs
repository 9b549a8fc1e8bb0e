using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tracer.Attribution;

/// <summary>
/// The policies felix's eBPF dataplane applies at an interface, from the file felix writes for each policy program when
/// FelixConfiguration's <c>bpfPolicyDebugEnabled</c> is on (felix/bpf/bpf.go PolicyDebugJSONFileName and bpf_defs.go
/// PolicyDebugInfo; written by writePolicyDebugInfo in felix/dataplane/linux/bpf_ep_mgr.go):
/// <c>/var/run/calico/bpf/policy/&lt;iface&gt;_&lt;policy direction&gt;_v&lt;4|6&gt;.json</c>, one JSON object
/// <c>{"ifacename": "cali…", "hook": "tc egress", "policyInfo": [{"inst": [8 bytes], "comments": […]}, …], "error": ""}</c>.
/// The program's instructions carry the comments felix's policy program builder writes (felix/bpf/polprog/pol_prog_builder.go):
/// <c>Start of &lt;Kind&gt; &lt;ns&gt;/&lt;name&gt; &lt;n&gt;</c> (or <c>&lt;Kind&gt; &lt;name&gt; &lt;n&gt;</c> for a global one) at each
/// policy since policy kinds, <c>Start of policy &lt;id&gt;</c> before.
/// </summary>
internal static partial class CalicoPolicyDebug
{
    /// <summary>Where felix writes the files (bpf_defs.go RuntimePolDir), as the node names it.</summary>
    public const string Directory = "/var/run/calico/bpf/policy";

    /// <summary>The policies of the file felix wrote for <paramref name="iface"/>'s <paramref name="hook"/> ("ingress", "egress", "xdp") and IP version, and the file; null where there is none.</summary>
    public static (string File, IReadOnlyList<string> Policies, string? Error)? At(string iface, string hook, int ipVersion, NodeAnswers node)
    {
        // The file is named by the policy direction, which on a workload interface is the other one than the tc hook;
        // the hook inside it says which program it describes.
        foreach (var direction in (string[])["ingress", "egress", "xdp"])
        {
            var name = $"{iface}_{direction}_v{ipVersion}.json";
            if (node.CalicoPolicyDebugFile(name) is { } json && Parse(json, iface, hook) is { } found)
                return ($"{Directory}/{name}", found.Policies, found.Error);
        }
        return null;
    }

    /// <summary>The policies, in the order the program applies them, of a file describing <paramref name="iface"/>'s <paramref name="hook"/>; null for a file of another interface or hook, or not of felix's shape.</summary>
    internal static (IReadOnlyList<string> Policies, string? Error)? Parse(string json, string iface, string hook)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("ifacename", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() != iface ||
                !root.TryGetProperty("hook", out var described) || described.ValueKind != JsonValueKind.String || described.GetString() != $"tc {hook}" ||
                !root.TryGetProperty("policyInfo", out var instructions) || instructions.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
                return null;
            var policies = new List<string>();
            if (instructions.ValueKind == JsonValueKind.Array)
            {
                foreach (var instruction in instructions.EnumerateArray())
                {
                    if (instruction.ValueKind != JsonValueKind.Object || !instruction.TryGetProperty("comments", out var comments) || comments.ValueKind != JsonValueKind.Array)
                        continue;
                    foreach (var comment in comments.EnumerateArray())
                    {
                        if (comment.ValueKind == JsonValueKind.String && Policy(comment.GetString()!) is { } policy && !policies.Contains(policy))
                            policies.Add(policy);
                    }
                }
            }
            var error = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } text ? text : null;
            return (policies, error);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex("^Start of (?:(?<kind>[A-Z][A-Za-z]*) (?<name>[^ ]+) [0-9]+|policy (?<name>[^ ]+))$")]
    private static partial Regex PolicyStart();

    /// <summary>A policy as a person names it ("Kubernetes NetworkPolicy shop/allow-web"), from a policy's opening comment; null for any other comment.</summary>
    private static string? Policy(string comment)
    {
        if (PolicyStart().Match(comment) is not { Success: true } m)
            return null;
        var (kind, name) = (m.Groups["kind"].Success ? m.Groups["kind"].Value : "Policy", m.Groups["name"].Value);
        return RuleOwners.CalicoPolicy(name, kind)?.Summary ?? (kind == "Policy" ? $"policy {name}" : $"{kind} {name}");
    }

    /// <summary>The node's file: through PID 1's root from Tracer's container (hostPID); /var/run is a link to /run on most nodes.</summary>
    internal static string? ReadNodeFile(string name)
    {
        foreach (var directory in (string[])["/proc/1/root/run/calico/bpf/policy", "/proc/1/root/var/run/calico/bpf/policy"])
        {
            try
            {
                return File.ReadAllText(Path.Join(directory, name));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // not there, or not ours to read
            }
        }
        return null;
    }
}
