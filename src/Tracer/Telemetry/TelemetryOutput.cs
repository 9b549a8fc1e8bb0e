using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Tracer.Discovery;
using Tracer.Errors;
using Tracer.Input;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Telemetry;

/// <summary>Where to send OTLP: the endpoint and protocol (grpc or http/protobuf).</summary>
internal sealed record OtlpTarget(Uri Endpoint, OtlpExportProtocol Protocol)
{
    /// <summary>The endpoint that turns export off, whatever OTEL_EXPORTER_OTLP_ENDPOINT says.</summary>
    public const string None = "none";

    public static readonly IReadOnlyList<string> Protocols = ["grpc", "http/protobuf"];

    /// <summary>
    /// From <c>--otlp-endpoint</c>/<c>--otlp-protocol</c> (already checked), else the standard
    /// OTEL_EXPORTER_OTLP_* variables; null when none names an endpoint, or it is <c>none</c> (then nothing is exported).
    /// </summary>
    public static OtlpTarget? From(string? endpoint, string? protocol)
    {
        if (endpoint == None)
            return null;
        var variable = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT") is { Length: > 0 } v ? v : null;
        var uri = endpoint is not null ? ParseEndpoint(endpoint)
            : variable is null ? null
            : ParseEndpoint(variable) ?? throw new UserError(
                $"OTEL_EXPORTER_OTLP_ENDPOINT {ArgumentParsers.Quote(variable)} is not an http:// or https:// URL.",
                "Set it to the collector's OTLP address, e.g. http://jaeger:4317, or unset it.", ExitCodes.Usage);
        if (uri is null)
            return protocol is null ? null : throw new UserError(
                "--otlp-protocol needs an endpoint to export to.",
                "Add --otlp-endpoint URL (or set OTEL_EXPORTER_OTLP_ENDPOINT).", ExitCodes.Usage);
        var variableProtocol = Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL") is { Length: > 0 } p ? p : null;
        return (protocol ?? variableProtocol ?? "grpc") switch
        {
            "grpc" => new OtlpTarget(uri, OtlpExportProtocol.Grpc),
            "http/protobuf" => new OtlpTarget(uri, OtlpExportProtocol.HttpProtobuf),
            var other => throw new UserError($"OTEL_EXPORTER_OTLP_PROTOCOL {ArgumentParsers.Quote(other)} is not grpc or http/protobuf.",
                                             "Set it to grpc or http/protobuf, or unset it (grpc).", ExitCodes.Usage),
        };
    }

    /// <summary>An absolute http(s) URL, or null.</summary>
    public static Uri? ParseEndpoint(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0 ? uri : null;

    /// <summary>The --otlp-endpoint option and OtlpEndpoint setting: an http(s) URL, or none.</summary>
    public static string? ParseEndpointSetting(string text, out string? error)
    {
        error = text == None || ParseEndpoint(text) is not null ? null
            : $"{ArgumentParsers.Quote(text)} is not an http:// or https:// URL, or none (e.g. http://jaeger:4317)";
        return error is null ? text : null;
    }
}

/// <summary>
/// OTLP export for the whole process: the resource, one tracer and one meter provider, and the drop
/// metrics. Spans come from the <see cref="TelemetryOutput"/>s that use <see cref="Source"/>.
/// Attribute names: docs/opentelemetry.md.
/// </summary>
internal sealed class OtlpExport : IDisposable
{
    public const string SourceName = "Tracer";

    private static readonly string Version = typeof(OtlpExport).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>
    /// Spans that may wait for the collector. While it is down, or hangs (a black hole that accepts and never
    /// answers holds every export for its whole timeout), ended episodes queue here; past this many the SDK drops
    /// new spans instead of growing, so memory stays bounded whatever the collector does. An episode span carries
    /// its culprit's evidence and the most dropped peers and ports (a few kB with the Activity): the SDK's default
    /// of 2048 could hold several MB on a node where many pods drop at once; 512 is still minutes of episodes of
    /// a node's pods (one per pod and culprit, a minute long at most).
    /// </summary>
    internal const int SpanQueue = 512;

    private readonly Meter _meter = new(SourceName, Version);
    private readonly Counter<long> _drops;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _overflow;
    private readonly TracerProvider _tracing;
    private readonly MeterProvider _metrics;
    private readonly Lock _totalsGate = new(); // written by the session, read by the metric reader's thread
    private ProbeCounters _totals;

    public OtlpExport(OtlpTarget target, ILogger logger)
    {
        var resource = ResourceBuilder.CreateEmpty()
            .AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? "tracer", serviceVersion: Version)
            .AddAttributes(NodeAttributes())
            .AddEnvironmentVariableDetector();
        // Over HTTP each signal has its own path under the base endpoint (the SDK appends it only for the variable).
        OtlpExporterOptions Options(string signalPath) => new()
        {
            Protocol = target.Protocol,
            Endpoint = target.Protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(target.Endpoint.ToString().TrimEnd('/') + "/" + signalPath)
                : target.Endpoint,
        };
        var failures = _meter.CreateCounter<long>("tracer.export_failures", "{batch}", "OTLP export batches that failed");
        var endpoint = target.Endpoint.ToString();
        _tracing = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(SourceName)
            .AddProcessor(new BatchActivityExportProcessor(
                new WatchedTraceExporter(Options("v1/traces"), new ExportWatch("spans", endpoint, logger, failures)),
                maxQueueSize: SpanQueue, maxExportBatchSize: SpanQueue / 2))
            .Build();
        _metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(SourceName)
            .AddReader(new PeriodicExportingMetricReader(
                new WatchedMetricExporter(Options("v1/metrics"), new ExportWatch("metrics", endpoint, logger, failures)),
                exportIntervalMilliseconds: 10_000))
            .Build();
        _drops = _meter.CreateCounter<long>("tracer.drops", "{packet}", "Packets the kernel dropped, by reason and culprit");
        _bytes = _meter.CreateCounter<long>("tracer.dropped_bytes", "By", "Bytes of the dropped packets");
        _overflow = _meter.CreateCounter<long>("tracer.aggregate_overflow", "{packet}", "Drops counted without their flow: the kernel's aggregate map was full or refused the update");
        _meter.CreateObservableCounter("tracer.samples_lost", () => (long)Totals.SamplesLost, "{sample}",
                                       "Drop samples the ring buffer had no room for (counts stay exact)");
        _meter.CreateObservableCounter("tracer.stacks_lost", () => (long)Totals.StacksLost, "{stack}", "Kernel stacks that could not be kept");
        _meter.CreateObservableCounter("tracer.missed_runs", () => (long)Totals.MissedRuns, "{run}",
                                       "Drops the kernel did not show the probe (it was already running on that CPU)");
    }

    public ActivitySource Source { get; } = new(SourceName, Version);

    /// <summary>Counts an interval's drops, labelled with the local pod they concern where it is known.</summary>
    public void Count(IReadOnlyList<DropRecord> records, PodSnapshot pods)
    {
        foreach (var record in records)
        {
            if (record.Overflow)
            {
                _overflow.Add((long)record.Count);
                continue;
            }
            var tags = new TagList
            {
                { "tracer.drop.reason", record.Reason },
                { "tracer.culprit.kind", (record.Culprit?.Kind ?? CulpritKind.Unknown).WireName() },
                { "tracer.culprit.name", CulpritName(record.Culprit) },
            };
            if (LocalPodOf(record.Flow!, pods) is { } pod)
            {
                tags.Add("k8s.namespace.name", pod.Identity.Namespace);
                tags.Add("k8s.pod.name", pod.Identity.Name);
                tags.Add("tracer.pod.side", pod.Side);
            }
            _drops.Add((long)record.Count, tags);
            _bytes.Add((long)record.Bytes, tags);
        }
    }

    /// <summary>The pod a drop concerns: its destination when that is a known pod, else its source.</summary>
    internal static (PodIdentity Identity, string Side)? LocalPodOf(DropFlow flow, PodSnapshot pods) =>
        pods.Identify(flow.Destination) is { } destination ? (destination, "destination")
        : pods.Identify(flow.Source) is { } source ? (source, "source")
        : null;

    private ProbeCounters Totals
    {
        get
        {
            lock (_totalsGate)
                return _totals;
        }
        set
        {
            lock (_totalsGate)
                _totals = value;
        }
    }

    /// <summary>The probe's loss counters since tracing started.</summary>
    public void Observe(ProbeCounters totals) => Totals = totals;

    /// <summary>A bounded name for the metric: the rule's chain, the function, the program, the module — never an address or port.</summary>
    private static string CulpritName(Records.Culprit? c) => c switch
    {
        null => "unknown",
        { Table: { } table, Chain: { } chain } => $"{table}/{chain}",
        { ProgramName: { } program } => program,
        { Function: { } function } => c.Module is { } module ? $"{function} [{module}]" : function,
        { Module: { } module } => module,
        { LsmName: { } lsm } => lsm.WireName(),
        _ => c.Kind.WireName(),
    };

    private static IEnumerable<KeyValuePair<string, object>> NodeAttributes()
    {
        yield return new("host.name", Environment.MachineName);
        if (Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } node)
            yield return new("k8s.node.name", node);
    }

    /// <summary>Exports what is still queued, then stops.</summary>
    public void Dispose()
    {
        _tracing.Dispose();
        _metrics.Dispose();
        Source.Dispose();
        _meter.Dispose();
    }
}

/// <summary>
/// Drop episodes as spans. With session attributes, a trace session is a root span and each
/// <see cref="DropEpisode"/> a child of it (<c>tracer trace</c>, and each on-demand session of the
/// daemon); without, each episode is a root span of its own (the daemon's continuous tracing, which
/// never ends, so has no span to hang them on). Spans carry the kernel's drop times.
/// </summary>
internal sealed class TelemetryOutput : IDropOutput
{
    private readonly OtlpExport _export;
    private readonly IPodSource _pods;
    private readonly bool _countMetrics;
    private readonly DropEpisodes _episodes = new();
    private readonly Activity? _session;

    /// <param name="sessionAttributes">The session span's attributes; null: episodes are root spans.</param>
    /// <param name="countMetrics">Whether this output's drops count in the metrics (not for a session the daemon also counts).</param>
    public TelemetryOutput(OtlpExport export, IEnumerable<KeyValuePair<string, object?>>? sessionAttributes, bool countMetrics, IPodSource pods)
    {
        _export = export;
        _pods = pods;
        _countMetrics = countMetrics;
        if (sessionAttributes is not null)
            _session = export.Source.StartActivity("trace session", ActivityKind.Internal, parentContext: default, tags: sessionAttributes);
    }

    /// <summary>The session's trace id, when it has a span (what to search for in Jaeger or Tempo).</summary>
    public string? TraceId => _session?.TraceId.ToHexString();

    /// <summary>The status line once every probe is attached: the session span carries the tier it names.</summary>
    public void Started(string status) => _session?.SetTag("tracer.session.status", status);

    public void Write(IReadOnlyList<DropRecord> records)
    {
        var pods = _pods.Current;
        if (_countMetrics)
            _export.Count(records, pods);
        foreach (var episode in _episodes.Add(records, DateTimeOffset.UtcNow, pods))
            Emit(episode);
    }

    public void Observe(ProbeCounters totals)
    {
        if (_countMetrics)
            _export.Observe(totals);
    }

    public void Complete(TraceSummary summary)
    {
        Observe(summary.Counters);
        _session?.SetTag("tracer.session.drops", (long)summary.Drops);
        _session?.SetTag("tracer.session.samples_lost", (long)summary.Counters.SamplesLost);
        End(failure: null);
    }

    /// <summary>Ends the open episodes and the session span; the export sends them (after the summary is printed).</summary>
    private void End(string? failure)
    {
        foreach (var episode in _episodes.CloseAll())
            Emit(episode);
        if (_session is null || _session.IsStopped)
            return;
        if (failure is not null)
            _session.SetStatus(ActivityStatusCode.Error, failure);
        _session.Stop();
    }

    private void Emit(DropEpisode episode)
    {
        var end = episode.Last > episode.Start ? episode.Last : episode.Start.AddTicks(1);
        // Without a session span, parentContext default and no current activity make the episode a root.
        var previous = Activity.Current;
        Activity.Current = null;
        using var span = _export.Source.StartActivity(ActivityKind.Internal, _session?.Context ?? default,
                                                      EpisodeAttributes(episode), startTime: episode.Start,
                                                      name: $"drop by {(episode.Culprit?.Kind ?? CulpritKind.Unknown).WireName()}");
        Activity.Current = previous;
        if (span is null)
            return;
        foreach (var sample in episode.Samples)
            span.AddEvent(new ActivityEvent("drop", sample.Time, new ActivityTagsCollection
            {
                ["tracer.drop.count"] = (long)sample.Count,
                ["source.address"] = sample.Flow!.Source?.ToString(),
                ["source.port"] = (long)sample.Flow.SourcePort,
                ["destination.port"] = (long)sample.Flow.DestinationPort,
            }));
        span.SetStatus(ActivityStatusCode.Error, episode.Culprit?.Summary ?? $"dropped: {episode.First.Reason}");
        span.SetEndTime(end.UtcDateTime);
    }

    /// <summary>One peer (or port) was seen, and no drop was counted only under the aggregate (whose peers and ports are unknown).</summary>
    private static bool OnlyOne<T>(DropEpisode episode, Dictionary<T, ulong> counts) where T : notnull =>
        counts.Count <= 1 && episode.AggregatedDrops == 0;

    internal static List<KeyValuePair<string, object?>> EpisodeAttributes(DropEpisode episode)
    {
        var flow = episode.First.Flow!;
        var c = episode.Culprit;
        var attributes = new List<KeyValuePair<string, object?>>
        {
            new("tracer.drop.count", (long)episode.Count),
            new("tracer.drop.bytes", (long)episode.Bytes),
            new("tracer.drop.reason", episode.First.Reason),
            new("tracer.drop.location", episode.First.Location),
            new("tracer.netns", (long)flow.Netns),
            new("tracer.ifindex", (long)flow.Ifindex),
            new("network.type", flow.IsIPv6 ? "ipv6" : "ipv4"),
            new("network.transport", flow.ProtocolName),
            // The pod's address always; the peer's and the ports only where there was one of each.
            new("source.address", episode.PodIsSource || OnlyOne(episode, episode.Peers) ? flow.Source?.ToString() : null),
            new("destination.address", !episode.PodIsSource || OnlyOne(episode, episode.Peers) ? flow.Destination?.ToString() : null),
            new("tracer.episode.peers", (long)episode.Peers.Count),
            new("tracer.episode.ports", (long)episode.Ports.Count),
            new("tracer.episode.aggregated_drops", (long)episode.AggregatedDrops),
        };
        if (episode.Peers.Count > 1)
            attributes.Add(new("tracer.episode.top_peers", DropEpisode.MostDropped(episode.Peers)));
        if (episode.Ports.Count > 1)
            attributes.Add(new("tracer.episode.top_ports", DropEpisode.MostDropped(episode.Ports)));
        if (!flow.IsIcmp && !flow.IsAggregate && OnlyOne(episode, episode.Ports))
        {
            attributes.Add(new("destination.port", (long)flow.DestinationPort));
            if (!episode.SeveralSourcePorts)
                attributes.Add(new("source.port", (long)flow.SourcePort));
        }
        AddPodAttributes(attributes, flow, episode.Pods);
        if (c is not null)
            attributes.AddRange(CulpritAttributes(c));
        return [.. attributes.Where(a => a.Value is not null)];
    }

    /// <summary>The <c>culprit</c> object as <c>tracer.culprit.*</c> attributes (null where a field is not set).</summary>
    internal static KeyValuePair<string, object?>[] CulpritAttributes(Records.Culprit c) =>
    [
        new("tracer.culprit.kind", c.Kind.WireName()),
        new("tracer.culprit.summary", c.Summary),
        new("tracer.culprit.confidence", c.Confidence.WireName()),
        new("tracer.culprit.evidence", c.Evidence.ToArray()),
        new("tracer.culprit.family", c.Family),
        new("tracer.culprit.hook", c.Hook),
        new("tracer.culprit.priority", c.Priority is { } priority ? (long)priority : null),
        new("tracer.culprit.table", c.Table),
        new("tracer.culprit.chain", c.Chain),
        new("tracer.culprit.handle", c.Handle is { } handle ? (long)handle : null),
        new("tracer.culprit.rule", c.Rule),
        new("tracer.culprit.function", c.Function),
        new("tracer.culprit.module", c.Module),
        new("tracer.culprit.out_of_tree", c.OutOfTree),
        new("tracer.culprit.program_id", c.ProgramId is { } id ? (long)id : null),
        new("tracer.culprit.program_name", c.ProgramName),
        new("tracer.culprit.attach", c.Attach?.WireName()),
        new("tracer.culprit.lsm", c.LsmName?.WireName()),
        new("tracer.culprit.selinux.scontext", c.Scontext),
        new("tracer.culprit.selinux.tcontext", c.Tcontext),
        new("tracer.culprit.selinux.tclass", c.Tclass),
        new("tracer.culprit.selinux.permissions", c.Permissions),
    ];

    /// <summary>
    /// The local pod the drop concerns as <c>k8s.*</c> (semantic conventions), and each side that is a pod of
    /// this node as <c>tracer.source.pod</c>/<c>tracer.destination.pod</c> (NAMESPACE/NAME).
    /// </summary>
    private static void AddPodAttributes(List<KeyValuePair<string, object?>> attributes, DropFlow flow, PodSnapshot pods)
    {
        if (OtlpExport.LocalPodOf(flow, pods) is not { } local)
            return;
        var pod = local.Identity;
        attributes.Add(new("k8s.namespace.name", pod.Namespace));
        attributes.Add(new("k8s.pod.name", pod.Name));
        attributes.Add(new("k8s.pod.uid", pod.Uid));
        if (pod.WorkloadKind is { } kind && pod.WorkloadName is { } workload)
            attributes.Add(new($"k8s.{kind.ToLowerInvariant()}.name", workload));
        foreach (var (key, value) in pod.Labels)
            attributes.Add(new($"k8s.pod.label.{key}", value));
        attributes.Add(new("tracer.pod.side", local.Side));
        if (pods.Identify(flow.Source) is { } source)
            attributes.Add(new("tracer.source.pod", source.ToString()));
        if (pods.Identify(flow.Destination) is { } destination)
            attributes.Add(new("tracer.destination.pod", destination.ToString()));
    }

    public void Dispose() => End(failure: "the trace session ended with an error");
}
