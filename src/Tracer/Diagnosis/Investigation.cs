using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Tracer.Discovery;
using Tracer.Output;
using Tracer.Records;
using Tracer.Sessions;

namespace Tracer.Diagnosis;

/// <summary>
/// The investigation of the incident, done by Tracer: a detailed trace of the pod starts, the pod is
/// probed as kubelet probes it (and the node from inside the pod), what a person would check is
/// checked, and the drops the trace saw become the verdict.
/// </summary>
internal static class Investigation
{
    /// <param name="status">Told once the target is known to be a pod of this node, before the trace starts.</param>
    public static async Task<DiagnosisReport> RunAsync(DiagnoseRequest request, Action<string> status, ILogger logger, CancellationToken cancellationToken)
    {
        var target = await DiagnoseTarget.ResolveAsync(request.Pod, request.Address, cancellationToken).ConfigureAwait(false);
        status($"diagnosing {target.Name}{(target.Name == target.Address.ToString() ? "" : $" ({target.Address})")}: tracing its packets in detail while probing it…");
        var findings = NodeChecks.Before(target);
        var records = new CollectedRecords();
        // With the API: the node's pods name the pod of a process owner, and owners named from rules are checked against it.
        var config = KubernetesAccess.Config(null, null, out _);
        var nodePods = config is null ? null : await NodePodsAsync(config, logger, cancellationToken).ConfigureAwait(false);
        using var clusterObjects = config is null ? null : new KubernetesClusterObjects(config, KubernetesAccess.NodeName(null)!);
        var clusterOwners = clusterObjects is null ? null : new ClusterOwners(clusterObjects);
        var pods = new FixedPods(new PodSnapshot([.. target.Networks.Select(n => new LocalPod(n, target.HostInterface, null))],
                                                 nodePods is null ? "diagnose" : "kubernetes", nodePods));
        // An investigation arms Tracer's namespace from the start (the pod's own namespace where drops happen there):
        // its first drops are named as well as its last.
        var options = new Sessions.TraceOptions([], WatchAll: false, Duration: null, Stacks: false, Arming: Attribution.Arming.Always);
        var session = new TraceSession(options, pods, records, logger) { Detailed = () => target.Networks, ClusterOwners = clusterOwners };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var attached = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();
        var tracing = session.RunAsync(attached.SetResult, stop.Token);
        if (await Task.WhenAny(attached.Task, tracing).ConfigureAwait(false) == tracing)
            await tracing.ConfigureAwait(false); // it failed before attaching: its exception says why

        var probes = await Task.Run(() => ReachabilityProbes.Run(target, request.Port, request.Path, request.FromPod), cancellationToken).ConfigureAwait(false);
        findings.Add(NodeChecks.Neighbour(target));
        findings.Add(NodeChecks.Watched(target, attached.Task.Result));
        // Trace the whole --duration, and at least two intervals past the last probe, so its drops are drained.
        var rest = request.Duration - clock.Elapsed;
        var drain = options.Interval * 2;
        try
        {
            await Task.Delay(rest > drain ? rest : drain, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C: the verdict from what was seen so far
        }
        await stop.CancelAsync().ConfigureAwait(false);
        var summary = await tracing.ConfigureAwait(false);

        var all = clusterOwners is null ? records.All
            : await clusterOwners.CompleteAsync(records.All, TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        var drops = DropGroups.From(target, all);
        var verdict = Verdict.From(target, probes, drops, findings, summary.Duration);
        return new DiagnosisReport(target.Name, target.Address.ToString(), target.HostInterface, target.NodeAddress?.ToString(),
                                   Math.Round(summary.Duration.TotalSeconds, 1), probes, findings, drops, verdict);
    }

    /// <summary>The node's pods, listed once; null (and why, logged) when the API does not answer in time.</summary>
    private static async Task<IReadOnlyList<PodIdentity>?> NodePodsAsync(k8s.KubernetesClientConfiguration config, ILogger logger, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await KubernetesAccess.ListNodePodsAsync(config, KubernetesAccess.NodeName(null)!, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when ((e is HttpRequestException or k8s.Autorest.HttpOperationException or IOException or System.Text.Json.JsonException
                                   or OperationCanceledException) && !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("the node's pods could not be listed ({Error}): a process owner's pod is named by its UID only", e.Message);
            return null;
        }
    }

    /// <summary>The one pod diagnose watches (the identities: the node's pods, when the API listed them).</summary>
    private sealed class FixedPods(PodSnapshot snapshot) : IPodSource
    {
        public PodSnapshot Current => snapshot;
    }

    /// <summary>Keeps every record of the trace for the verdict.</summary>
    private sealed class CollectedRecords : IDropOutput
    {
        private readonly List<DropRecord> _records = [];

        public IReadOnlyList<DropRecord> All
        {
            get
            {
                lock (_records)
                    return [.. _records];
            }
        }

        public void Write(IReadOnlyList<DropRecord> records)
        {
            lock (_records)
                _records.AddRange(records);
        }

        public void Complete(TraceSummary summary)
        {
        }

        public void Dispose()
        {
        }
    }
}
