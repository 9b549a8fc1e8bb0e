namespace Tracer.Attribution;

/// <summary>
/// What the kernel writes in /proc/PID/fdinfo/FD for a descriptor that keeps a BPF program loaded: a program's
/// (<c>prog_type</c>, …, <c>prog_id</c>), or a link's (<c>link_type</c>, <c>link_id</c>, then <c>prog_tag</c> and
/// <c>prog_id</c>: always on 5.8–6.3, only while the link has a program since 6.4).
/// </summary>
internal sealed record BpfFdInfo(uint ProgramId, uint? LinkId, string? LinkType)
{
    /// <summary>The program a BPF program or link descriptor holds; null for anything else (a map, a link without a program, any other file).</summary>
    public static BpfFdInfo? Parse(string fdinfo)
    {
        uint? program = null, link = null;
        string? linkType = null;
        var isProgram = false;
        foreach (var line in fdinfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
                continue;
            var value = line[(colon + 1)..].Trim();
            switch (line[..colon])
            {
                case "prog_type":
                    isProgram = true;
                    break;
                case "prog_id" when uint.TryParse(value, out var id):
                    program = id;
                    break;
                case "link_id" when uint.TryParse(value, out var id):
                    link = id;
                    break;
                case "link_type":
                    linkType = value;
                    break;
            }
        }
        return program is { } held && (isProgram || link is not null) ? new BpfFdInfo(held, isProgram ? null : link, isProgram ? null : linkType) : null;
    }

    /// <summary>As evidence: "prog_id 1393", or "link_id 12 (netfilter), prog_id 1393".</summary>
    public override string ToString() => LinkId is { } link ? $"link_id {link} ({LinkType}), prog_id {ProgramId}" : $"prog_id {ProgramId}";
}
