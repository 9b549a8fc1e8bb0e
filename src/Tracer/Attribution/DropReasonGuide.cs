using System.Text.Json;

namespace Tracer.Attribution;

/// <summary>What a drop reason means and what to check: DropReasonGuide.json, embedded.</summary>
internal sealed class DropReasonGuide
{
    private readonly Dictionary<string, (string Explanation, string Check)> _entries = [];

    public DropReasonGuide(Stream json)
    {
        using var document = JsonDocument.Parse(json);
        foreach (var reason in document.RootElement.EnumerateObject().Where(p => !p.Name.StartsWith('_')))
            _entries[reason.Name] = (reason.Value.GetProperty("explanation").GetString()!, reason.Value.GetProperty("check").GetString()!);
    }

    public static DropReasonGuide Embedded()
    {
        using var stream = typeof(DropReasonGuide).Assembly.GetManifestResourceStream("DropReasonGuide.json")
            ?? throw new InvalidOperationException("DropReasonGuide.json is not embedded");
        return new DropReasonGuide(stream);
    }

    public IEnumerable<string> Reasons => _entries.Keys;

    public (string Explanation, string Check)? Lookup(string reason) =>
        _entries.TryGetValue(reason, out var entry) ? entry : null;
}
