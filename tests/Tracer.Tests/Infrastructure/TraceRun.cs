using System.Text.Json;

namespace Tracer.Tests.Infrastructure;

/// <summary>Runs out/tracer around some traffic and hands back its JSON lines.</summary>
internal static class TraceRun
{
    /// <summary>
    /// Traces in <paramref name="ns"/> around <paramref name="traffic"/>, waits until the drops matching
    /// <paramref name="expect"/> add up to <paramref name="expected"/> (failing if they do not; expecting
    /// none, it waits two intervals), stops with Ctrl-C and returns every JSON line. Stopping flushes
    /// whatever was still counted, so an over-count shows.
    /// </summary>
    public static List<JsonElement> Lines(string ns, Action traffic, Func<JsonElement, bool>? expect, long expected, params string[] options)
    {
        using var tracer = TracerProcess.StartTracing(ns, ["trace", "--output", "json", .. options]);
        traffic();
        if (expect is null)
            Thread.Sleep(TimeSpan.FromSeconds(2));
        else
            tracer.WaitForDrops(expect, expected, TimeSpan.FromSeconds(15));
        Assert.Equal(0, tracer.Stop());
        return [.. tracer.JsonLines()];
    }

    public static string? Str(this JsonElement line, string name) =>
        line.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static long Num(this JsonElement line, string name) =>
        line.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : -1;

    public static JsonElement Culprit(this JsonElement line) => line.GetProperty("culprit");
}
