using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Output;

/// <summary>Where a trace session's records go: a terminal table, plain text, JSON lines, later OpenTelemetry.</summary>
internal interface IDropOutput : IDisposable
{
    /// <summary>The records of one interval; called once per interval, also when there are none.</summary>
    void Write(IReadOnlyList<DropRecord> records);

    /// <summary>How the session stands, after each interval.</summary>
    void Observe(TraceProgress progress)
    {
    }

    /// <summary>The session ended; everything counted has been written.</summary>
    void Complete(TraceSummary summary);
}
