using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tracer.Daemon;

/// <summary>
/// The control socket's protocol: the client sends one request line (JSON); the daemon answers with
/// one reply line, and for <c>start</c> then streams the session's output (exactly what
/// <c>tracer trace</c> would print) until the session ends and the daemon closes the connection.
/// </summary>
internal sealed record ControlRequest(string Command, string? Pod = null, string? Ip = null, double? DurationSeconds = null,
                                      bool Stack = false, string Output = "json", string? Id = null);

internal sealed record SessionInfo(string Id, string Target, string[] Addresses, DateTimeOffset Started, DateTimeOffset? Ends,
                                   ulong Drops, int ClientPid, string? TraceId);

internal sealed record ControlReply(string? Error = null, string? Remedy = null, SessionInfo? Session = null,
                                    SessionInfo[]? Sessions = null, string? Stopped = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
                             DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlReply))]
internal sealed partial class ControlJson : JsonSerializerContext
{
    public const int MaxRequestBytes = 4096;

    public static string Line(ControlReply reply) => JsonSerializer.Serialize(reply, Default.ControlReply) + "\n";

    public static string Line(ControlRequest request) => JsonSerializer.Serialize(request, Default.ControlRequest) + "\n";
}
