using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Output;

/// <summary>Hands every interval to several outputs (the console, and OpenTelemetry when configured); owns none of them.</summary>
internal sealed class TeeOutput(params IDropOutput[] outputs) : IDropOutput
{
    public void Write(IReadOnlyList<DropRecord> records)
    {
        foreach (var output in outputs)
            output.Write(records);
    }

    public void Observe(TraceProgress progress)
    {
        foreach (var output in outputs)
            output.Observe(progress);
    }

    public void Complete(TraceSummary summary)
    {
        foreach (var output in outputs)
            output.Complete(summary);
    }

    public void Dispose()
    {
        // The outputs belong to whoever made them.
    }
}
