using System.Diagnostics;
using Tracer.Discovery;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;

namespace Tracer.Telemetry;

/// <summary>
/// Drop episodes as spans. With session attributes, a trace session is a root span and each
/// <see cref="DropEpisode"/> a child of it (<c>tracer trace</c>, and each on-demand session of the
/// daemon); without, each episode is a root span of its own (the daemon's continuous tracing, which
/// never ends, so has no span to hang them on). Spans carry the kernel's drop times.
/// </summary>
internal sealed class TelemetryOutput : IDropOutput
{
    private readonly TelemetryExport _export;
    private readonly IPodSource _pods;
    private readonly bool _countMetrics;
    private readonly DropEpisodes _episodes = new();
    private readonly Activity? _session;

    /// <param name="sessionAttributes">The session span's attributes; null: episodes are root spans.</param>
    /// <param name="countMetrics">Whether this output's drops count in the metrics (not for a session the daemon also counts).</param>
    public TelemetryOutput(TelemetryExport export, IEnumerable<KeyValuePair<string, object?>>? sessionAttributes, bool countMetrics, IPodSource pods)
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
    public void Started(string status)
    {
        if (_countMetrics)
            _export.Metrics.Attached(true);
        _session?.SetTag("tracer.session.status", status);
    }

    public void Write(IReadOnlyList<DropRecord> records)
    {
        var pods = _pods.Current;
        if (_countMetrics)
            _export.Metrics.Count(records, pods, DateTimeOffset.UtcNow);
        if (!_export.ExportsSpans)
            return;
        foreach (var episode in _episodes.Add(records, DateTimeOffset.UtcNow, pods))
            Emit(episode);
    }

    public void Observe(TraceProgress progress)
    {
        if (_countMetrics)
            _export.Metrics.Observe(progress);
    }

    public void Complete(TraceSummary summary)
    {
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
        span.SetStatus(ActivityStatusCode.Error, episode.Culprit?.Sentence ?? $"dropped: {episode.First.Reason}");
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
        new("tracer.culprit.id", c.Id),
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
        new("tracer.culprit.queue", c.Queue is { } queue ? (long)queue : null),
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
        .. c.Owner is { } owner ? OwnerAttributes(owner) : [],
    ];

    /// <summary>
    /// The culprit's <c>owner</c> as <c>tracer.culprit.owner.*</c>; a process holding the program by the <c>process.*</c>
    /// and <c>container.id</c> semantic conventions under that prefix (the first holder: the pid, executable and container one acts on).
    /// </summary>
    private static KeyValuePair<string, object?>[] OwnerAttributes(CulpritOwner o)
    {
        var process = o.Processes is [var first, ..] ? first : null;
        return
        [
            new("tracer.culprit.owner.kind", o.Kind.WireName()),
            new("tracer.culprit.owner.name", o.Name),
            new("tracer.culprit.owner.namespace", o.Namespace),
            new("tracer.culprit.owner.summary", o.Summary),
            new("tracer.culprit.owner.confidence", o.Confidence.WireName()),
            new("tracer.culprit.owner.evidence", o.Evidence.ToArray()),
            new("tracer.culprit.owner.pod_selector", o.PodSelector),
            new("tracer.culprit.owner.process.pid", process is null ? null : (long)process.Pid),
            new("tracer.culprit.owner.process.executable.name", process?.Comm),
            new("tracer.culprit.owner.process.executable.path", process?.Exe),
            new("tracer.culprit.owner.process.command_line", process?.Cmdline),
            new("tracer.culprit.owner.process.cgroup", process?.Cgroup),
            new("tracer.culprit.owner.container.id", process?.ContainerId),
            new("tracer.culprit.owner.processes", o.Processes is { Count: > 1 } all ? (long)all.Count : null),
            new("tracer.culprit.owner.pin_path", o.PinPath),
            new("tracer.culprit.owner.pod", o.Pod),
            new("tracer.culprit.owner.container", o.Container),
            new("tracer.culprit.owner.workload", o.Workload),
            new("tracer.culprit.owner.package", o.Package is { } p ? $"{p.Name} {p.Version}".TrimEnd() : null),
            new("tracer.culprit.owner.package.manager", o.Package?.Manager),
            new("tracer.culprit.owner.module.path", o.Module?.Path),
            new("tracer.culprit.owner.module.version", o.Module?.Version),
            new("tracer.culprit.owner.module.author", o.Module?.Author),
            new("tracer.culprit.owner.module.signer", o.Module?.Signer),
            new("tracer.culprit.owner.module.taints", o.Module?.Taints.ToArray()),
        ];
    }

    /// <summary>
    /// The local pod the drop concerns as <c>k8s.*</c> (semantic conventions), and each side that is a pod of
    /// this node as <c>tracer.source.pod</c>/<c>tracer.destination.pod</c> (NAMESPACE/NAME).
    /// </summary>
    private static void AddPodAttributes(List<KeyValuePair<string, object?>> attributes, DropFlow flow, PodSnapshot pods)
    {
        if (pods.Concerned(flow) is not { } local)
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
        AddProbeAttributes(attributes, PodProbe.Matching(flow, pods));
    }

    /// <summary>
    /// The kubelet's probes whose traffic this is: <c>tracer.probe.*</c> of the one whose failure costs most, and every
    /// kind when the probes share the port (liveness and readiness often do).
    /// </summary>
    internal static void AddProbeAttributes(List<KeyValuePair<string, object?>> attributes, IReadOnlyList<PodProbe> probes)
    {
        if (PodProbe.MostSevere(probes) is not { } probe)
            return;
        attributes.Add(new("tracer.probe.kind", probe.KindName));
        attributes.Add(new("tracer.probe.kinds", probes.Select(p => p.KindName).Distinct().ToArray()));
        attributes.Add(new("tracer.probe.container", probe.Container));
        attributes.Add(new("tracer.probe.endpoint", probe.Endpoint));
        attributes.Add(new("tracer.probe.period_s", (long)probe.PeriodSeconds));
        attributes.Add(new("tracer.probe.failure_threshold", (long)probe.FailureThreshold));
        attributes.Add(new("tracer.probe.consequence", probe.Consequence));
    }

    public void Dispose() => End(failure: "the trace session ended with an error");
}
