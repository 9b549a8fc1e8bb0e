using System.Text.Json;

namespace Tracer.Attribution;

/// <summary>What a drop reason means and what to check: DropReasonGuide.json, embedded.</summary>
internal sealed class DropReasonGuide
{
    private readonly Dictionary<string, (string Explanation, string Check)> _entries = [];
    private readonly Dictionary<string, string> _impliedByLocation = [];

    public DropReasonGuide(Stream json)
    {
        using var document = JsonDocument.Parse(json);
        foreach (var reason in document.RootElement.EnumerateObject().Where(p => !p.Name.StartsWith('_')))
            _entries[reason.Name] = (reason.Value.GetProperty("explanation").GetString()!, reason.Value.GetProperty("check").GetString()!);
        if (document.RootElement.TryGetProperty("_implied_by_location", out var implied))
            foreach (var location in implied.EnumerateObject().Where(p => p.Name != "_comment"))
                _impliedByLocation[location.Name] = location.Value.GetString()!;
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

    /// <summary>The reason a drop at <paramref name="function"/> implies, for kernels that report none.</summary>
    public string? ImpliedBy(string function) => _impliedByLocation.GetValueOrDefault(function);

    public IEnumerable<string> ImpliedReasons => _impliedByLocation.Values;
}
