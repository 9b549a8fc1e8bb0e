using System.Text.RegularExpressions;
using Tracer.Records;

namespace Tracer.Attribution;

/// <summary>
/// The AppArmor profile behind an AppArmor drop, where the kernel says it: its audit record of the denial
/// (<c>apparmor="DENIED" … class="net" profile="…"</c>) in the kernel log, or in auditd's log where auditd takes
/// them. AppArmor has no tracepoint to tie a denial to a packet: the newest network denial of the last seconds is
/// taken (inferred), and said so.
/// </summary>
internal static class ApparmorOwners
{
    public static CulpritOwner? Of(Culprit culprit, NodeAnswers node)
    {
        if (culprit.LsmName is not (CulpritLsm.Apparmor or null) ||
            culprit.LsmName is null && node.ActiveLsms()?.Split(',').Contains("apparmor") != true)
            return null;
        if (node.ApparmorDenials() is not [.., var denial])
            return null;
        var what = $"{denial.Denied ?? "network access"}{(denial.Operation is { } op ? $" ({op})" : "")}";
        return new CulpritOwner
        {
            Kind = OwnerKind.ApparmorProfile, Name = denial.Profile, Confidence = CulpritConfidence.Inferred,
            Summary = $"AppArmor profile {denial.Profile} denied {what}{(denial.Comm is { } comm ? $" to {comm}{(denial.Pid is { } pid ? $" (pid {pid})" : "")}" : "")}",
            Evidence = [$"the newest AppArmor network denial in the kernel's audit records: {denial.Record}"],
        };
    }
}

/// <summary>One AppArmor denial as its audit record has it (the fields AppArmor's audit callbacks write).</summary>
internal sealed partial record ApparmorDenial(string Profile, string? Operation, string? Denied, string? Comm, int? Pid, string Record)
{
    /// <summary>A network denial from an audit record (kernel log or auditd's log line); null for anything else.</summary>
    public static ApparmorDenial? Parse(string line)
    {
        var start = line.IndexOf("apparmor=\"DENIED\"", StringComparison.Ordinal);
        if (start < 0)
            return null;
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match field in Field().Matches(line, start))
            fields.TryAdd(field.Groups["key"].Value, field.Groups["quoted"].Success ? field.Groups["quoted"].Value : field.Groups["bare"].Value);
        // Network mediation: class="net" (5.x+), or the older records that only carry a socket family.
        if (!fields.TryGetValue("profile", out var profile) ||
            !(fields.GetValueOrDefault("class") == "net" || fields.ContainsKey("sock_type") || fields.ContainsKey("family")))
            return null;
        return new ApparmorDenial(profile, fields.GetValueOrDefault("operation"),
                                  fields.GetValueOrDefault("denied") ?? fields.GetValueOrDefault("denied_mask"),
                                  fields.GetValueOrDefault("comm"),
                                  int.TryParse(fields.GetValueOrDefault("pid"), out var pid) ? pid : null,
                                  line[start..].Trim());
    }

    [GeneratedRegex("""(?<key>[a-z_]+)=(?:"(?<quoted>[^"]*)"|(?<bare>[^\s"]+))""")]
    private static partial Regex Field();
}
