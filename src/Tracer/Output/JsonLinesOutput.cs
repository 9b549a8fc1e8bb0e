using System.Text.Json;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Output;

/// <summary>
/// One JSON object per record and line, flushed every interval. The schema is documented in
/// docs/json-output.md; summing <c>count</c> over a run gives the exact number of drops seen.
/// <paramref name="pods"/>: names the sides that are pods of this node, where the pods are known by name (the API).
/// </summary>
internal sealed class JsonLinesOutput(Stream stream, IPodSource? pods = null) : IDropOutput
{
    private readonly Utf8JsonWriter _writer = new(stream, new JsonWriterOptions { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public void Write(IReadOnlyList<DropRecord> records)
    {
        var snapshot = pods?.Current;
        foreach (var record in records)
        {
            WriteRecord(record, snapshot);
            _writer.Flush();
            stream.WriteByte((byte)'\n');
            _writer.Reset();
        }
        stream.Flush();
    }

    private void WriteRecord(DropRecord record, PodSnapshot? pods)
    {
        _writer.WriteStartObject();
        _writer.WriteString("time", record.Time.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        _writer.WriteString("last", record.Last.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        if (record.Flow is { } flow)
        {
            _writer.WriteNumber("netns", flow.Netns);
            _writer.WriteNumber("ifindex", flow.Ifindex);
            _writer.WriteString("src", flow.Source?.ToString()); // null for non-IP packets
            _writer.WriteString("dst", flow.Destination?.ToString());
            if (pods?.Identify(flow.Source) is { } sourcePod)
                _writer.WriteString("src_pod", sourcePod.ToString());
            if (pods?.Identify(flow.Destination) is { } destinationPod)
                _writer.WriteString("dst_pod", destinationPod.ToString());
            if (flow.ProtocolName is { } protocol)
                _writer.WriteString("protocol", protocol);
            else
                _writer.WriteString("ethertype", $"0x{flow.L3Protocol:x4}");
            if (flow.IsAggregate)
            {
                // Every peer and port of the watched address: the side that is null is many addresses.
                _writer.WriteString("aggregate", flow.Source is null ? "destination" : "source");
            }
            else if (flow.IsIcmp)
            {
                _writer.WriteNumber("icmp_type", flow.SourcePort);
                _writer.WriteNumber("icmp_code", flow.DestinationPort);
            }
            else if (flow.IsIP)
            {
                _writer.WriteNumber("sport", flow.SourcePort);
                _writer.WriteNumber("dport", flow.DestinationPort);
            }
            _writer.WriteString("reason", record.Reason);
            _writer.WriteNumber("reason_code", flow.Reason);
            _writer.WriteString("location", record.Location);
        }
        else
        {
            _writer.WriteBoolean("overflow", true);
        }
        _writer.WriteNumber("count", record.Count);
        _writer.WriteNumber("bytes", record.Bytes);
        if (record.Culprit is { } culprit)
            WriteCulprit(culprit);
        if (record.Stack is { } stack)
        {
            _writer.WriteStartArray("stack");
            foreach (var frame in stack)
                _writer.WriteStringValue(frame);
            _writer.WriteEndArray();
        }
        _writer.WriteEndObject();
    }

    private void WriteCulprit(Records.Culprit culprit)
    {
        _writer.WriteStartObject("culprit");
        _writer.WriteString("kind", culprit.Kind.WireName());
        _writer.WriteString("summary", culprit.Summary);
        _writer.WriteString("confidence", culprit.Confidence.WireName());
        WriteIfSet("family", culprit.Family);
        WriteIfSet("hook", culprit.Hook);
        WriteIfSet("priority", culprit.Priority);
        WriteIfSet("table", culprit.Table);
        WriteIfSet("chain", culprit.Chain);
        WriteIfSet("handle", (long?)culprit.Handle);
        WriteIfSet("rule_number", culprit.RuleNumber);
        WriteIfSet("rule", culprit.Rule);
        WriteIfSet("queue", culprit.Queue);
        WriteIfSet("function", culprit.Function);
        WriteIfSet("module", culprit.Module);
        if (culprit.OutOfTree is { } outOfTree)
            _writer.WriteBoolean("out_of_tree", outOfTree);
        WriteIfSet("program_id", culprit.ProgramId);
        WriteIfSet("program_name", culprit.ProgramName);
        WriteIfSet("attach", culprit.Attach?.WireName());
        WriteIfSet("lsm", culprit.LsmName?.WireName());
        WriteIfSet("scontext", culprit.Scontext);
        WriteIfSet("tcontext", culprit.Tcontext);
        WriteIfSet("tclass", culprit.Tclass);
        WriteIfSet("permissions", culprit.Permissions);
        WriteIfSet("explanation", culprit.Explanation);
        WriteIfSet("check", culprit.Check);
        _writer.WriteStartArray("evidence");
        foreach (var fact in culprit.Evidence)
            _writer.WriteStringValue(fact);
        _writer.WriteEndArray();
        if (culprit.Owner is { } owner)
        {
            _writer.WritePropertyName("owner");
            JsonSerializer.Serialize(_writer, owner, CulpritOwnerJson.Default.CulpritOwner);
        }
        _writer.WriteEndObject();
    }

    private void WriteIfSet(string name, string? value)
    {
        if (value is not null)
            _writer.WriteString(name, value);
    }

    private void WriteIfSet(string name, long? value)
    {
        if (value is { } number)
            _writer.WriteNumber(name, number);
    }

    public void Complete(TraceSummary summary) => stream.Flush();

    public void Dispose() => _writer.Dispose();
}
