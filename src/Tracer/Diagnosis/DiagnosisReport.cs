using System.Text.Json.Serialization;

namespace Tracer.Diagnosis;

/// <summary>Everything diagnose found; its JSON form is the <c>--output json</c> document (docs/diagnose.md).</summary>
internal sealed record DiagnosisReport(
    string Target,
    string Address,
    string? HostInterface,
    string? NodeAddress,
    double TracedSeconds,
    IReadOnlyList<ProbeResult> Probes,
    IReadOnlyList<Finding> Findings,
    IReadOnlyList<DropGroup> Drops,
    Verdict Verdict);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
                             DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DiagnosisReport))]
internal sealed partial class DiagnosisJson : JsonSerializerContext;
