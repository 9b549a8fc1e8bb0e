using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tracer.Discovery;
using Tracer.Records;

namespace Tracer.Daemon;

/// <summary>
/// Drops on the pod's own page: a <c>Warning</c> Event (core/v1, what <c>kubectl describe pod</c> lists) with reason
/// <see cref="Reason"/> on each pod whose packets are dropped — one Event per pod and culprit, its count the packets
/// dropped, updated as drops go on rather than a new object per drop. Writes never hold up tracing: the trace loop
/// only adds to the tally, and a loop of its own sends what is due.
/// </summary>
/// <remarks>
/// Bounded like the kubelet's event recorder: an Event is updated at most every <see cref="UpdateEvery"/>, and the
/// node's writes take tokens from one bucket (<see cref="Burst"/>, then one every <see cref="Refill"/>); what waits
/// keeps its count, so the next write carries everything. An Event the API has let expire (1 h by default) is
/// created again. Pods gone and quiet for <see cref="Forget"/> are forgotten.
/// </remarks>
internal sealed class PodEvents(Kubernetes client, string nodeName, ILogger logger) : IDisposable
{
    public const string Reason = "PacketsDropped";
    public const string Component = "tracer";

    internal static readonly TimeSpan UpdateEvery = TimeSpan.FromSeconds(10);
    internal const int Burst = 25;
    internal static readonly TimeSpan Refill = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan Forget = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private const int MaxMessage = 1024;

    private readonly Lock _gate = new();
    private readonly Dictionary<(string PodUid, string CulpritId), PodEvent> _events = [];
    private double _tokens = Burst;
    private DateTimeOffset? _refilled;
    private bool _failing;

    /// <summary>One Event: the pod, the culprit, what has been dropped, and what the API has of it.</summary>
    internal sealed class PodEvent(PodIdentity pod, string name)
    {
        public readonly PodIdentity Pod = pod;
        public readonly string Name = name;
        public Culprit? Culprit;
        public PodProbe? Probe;
        public string Side = "destination";
        public ulong Packets;
        public DateTimeOffset First;
        public DateTimeOffset Last;
        public bool Dirty;
        public bool Created;
        public DateTimeOffset Sent;
    }

    /// <summary>Adds an interval's drops of known pods to their Events (the trace loop; no API call here).</summary>
    public void Write(IReadOnlyList<DropRecord> records, PodSnapshot pods, DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var record in records)
            {
                if (record.Overflow || pods.Concerned(record.Flow!) is not { } concerned)
                    continue;
                var culpritId = record.Culprit?.Id ?? $"reason:{record.Reason}";
                var key = (concerned.Identity.Uid, culpritId);
                if (!_events.TryGetValue(key, out var pending))
                {
                    pending = SameDrops(key.Uid, record.Culprit)
                              ?? new PodEvent(concerned.Identity, EventName(concerned.Identity.Name, culpritId)) { First = now, Culprit = record.Culprit };
                    if (Vague(pending.Culprit) && !Vague(record.Culprit) || pending.Culprit?.Hook is null && record.Culprit?.Hook is not null)
                        pending.Culprit = record.Culprit; // narrowed: the Event now names it
                    _events[key] = pending;
                }
                pending.Side = concerned.Side;
                if (PodProbe.MostSevere(PodProbe.Matching(record.Flow!, pods)) is { } probe && (pending.Probe is null || probe.Kind < pending.Probe.Kind))
                    pending.Probe = probe;
                pending.Packets += record.Count;
                pending.Last = now;
                pending.Dirty = true;
            }
            // Departed pods' Events are forgotten; a quiet node (no Events) builds no set of its pods each interval.
            if (_events.Count == 0)
                return;
            var present = pods.Pods.Select(p => p.Identity?.Uid).ToHashSet();
            foreach (var gone in _events.Where(e => !present.Contains(e.Key.PodUid) && now - e.Value.Last >= Forget).Select(e => e.Key).ToList())
                _events.Remove(gone);
        }
    }

    /// <summary>
    /// The pod's Event that already counts these drops under another name: attribution names a netfilter drop by its
    /// hook point (or not even that) until sentinels, verdict observers or the trace tell its hooks apart, then by the
    /// hook itself. One incident, one Event: a vague name and a precise one at the same hook point share it.
    /// </summary>
    private PodEvent? SameDrops(string podUid, Culprit? culprit) =>
        culprit is null || !Netfilter(culprit) ? null
        : _events.Where(e => e.Key.PodUid == podUid).Select(e => e.Value).FirstOrDefault(e =>
            e.Culprit is { } known && Netfilter(known) && (Vague(known) || Vague(culprit)) &&
            (known.Hook is null || culprit.Hook is null || (known.Family == culprit.Family && known.Hook == culprit.Hook)));

    /// <summary>One of several hooks at a hook point, not yet told apart.</summary>
    private static bool Vague(Culprit? c) => c is { Kind: CulpritKind.NetfilterHook, Priority: null, Function: null };

    private static bool Netfilter(Culprit c) => c.Kind == CulpritKind.NetfilterHook || c.Family is not null;

    /// <summary>Sends what is due until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Tick);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var (pending, body) in Due(DateTimeOffset.UtcNow))
                    await SendAsync(pending, body, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>The Events to write now, each with its state as of now, as far as the node's bucket allows.</summary>
    internal List<(PodEvent Pending, Corev1Event Body)> Due(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (_refilled is { } last && now > last)
                _tokens = Math.Min(Burst, _tokens + (now - last) / Refill);
            _refilled = now;
            var due = new List<(PodEvent, Corev1Event)>();
            foreach (var pending in _events.Values.Distinct().Where(e => e.Dirty && (e.Sent == default || now - e.Sent >= UpdateEvery)).OrderBy(e => e.First))
            {
                if (_tokens < 1)
                    break;
                _tokens--;
                pending.Dirty = false;
                pending.Sent = now;
                due.Add((pending, Body(pending)));
            }
            return due;
        }
    }

    private async Task SendAsync(PodEvent pending, Corev1Event body, CancellationToken cancellationToken)
    {
        var ns = pending.Pod.Namespace;
        try
        {
            if (pending.Created)
            {
                try
                {
                    var patch = new JsonObject
                    {
                        ["count"] = body.Count,
                        ["lastTimestamp"] = body.LastTimestamp!.Value.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                        ["message"] = body.Message,
                    };
                    await client.CoreV1.PatchNamespacedEventAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), pending.Name, ns,
                                                                  cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.NotFound)
                {
                    await client.CoreV1.CreateNamespacedEventAsync(body, ns, cancellationToken: cancellationToken).ConfigureAwait(false); // expired
                }
            }
            else
            {
                try
                {
                    await client.CoreV1.CreateNamespacedEventAsync(body, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.Conflict)
                {
                    // Written by an earlier run of the daemon: carry on counting in it.
                    await client.CoreV1.ReplaceNamespacedEventAsync(body, pending.Name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                pending.Created = true;
            }
            if (_failing)
                logger.LogWarning("Kubernetes Events are written again");
            _failing = false;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
                pending.Dirty = true; // its count goes with the next write
            if (!_failing)
                logger.LogWarning("cannot write the Event on pod {Pod} ({Error}); {Hint}", pending.Pod, Describe(e),
                                  e is HttpOperationException { Response.StatusCode: HttpStatusCode.Forbidden }
                                      ? "the daemon's ServiceAccount needs create and patch on events (deploy/10-rbac.yaml)"
                                      : "retrying; drops are still counted");
            _failing = true;
        }
    }

    private static string Describe(Exception e) => e is HttpOperationException { Response: { } response }
        ? $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}"
        : e.Message;

    /// <summary>The Event as it stands: count, times and the sentence of the latest state.</summary>
    private Corev1Event Body(PodEvent pending)
    {
        var pod = pending.Pod;
        return new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = pending.Name, NamespaceProperty = pod.Namespace },
            InvolvedObject = new V1ObjectReference { ApiVersion = "v1", Kind = "Pod", Name = pod.Name, NamespaceProperty = pod.Namespace, Uid = pod.Uid },
            Reason = Reason,
            Type = "Warning",
            Message = Message(pending),
            Count = (int)Math.Min(pending.Packets, int.MaxValue),
            FirstTimestamp = pending.First.UtcDateTime,
            LastTimestamp = pending.Last.UtcDateTime,
            Source = new V1EventSource { Component = Component, Host = nodeName },
            ReportingComponent = Component,
            ReportingInstance = nodeName,
        };
    }

    /// <summary>"liveness probe traffic (…) from the kubelet is being dropped: …. The kubelet will …. Next: …", or the plain drops.</summary>
    internal static string Message(Culprit? culprit, PodProbe? probe, string side, ulong packets)
    {
        var who = culprit?.Sentence ?? "the kernel (culprit not named yet)";
        var what = probe is not null
            ? $"{probe.Sentence(who)}. {packets} packets dropped so far."
            : $"{packets} packets {(side == "destination" ? "to" : "from")} this pod dropped by {who}.";
        var text = $"{what} Next: {culprit.NextStep()}";
        return text.Length <= MaxMessage ? text : text[..(MaxMessage - 1)] + "…";
    }

    private static string Message(PodEvent pending) => Message(pending.Culprit, pending.Probe, pending.Side, pending.Packets);

    /// <summary>"POD.HASH" as the kubelet names its Events: the same name for the same pod and culprit across restarts of the daemon.</summary>
    internal static string EventName(string pod, string culpritId)
    {
        var hash = 14695981039346656037UL; // FNV-1a: stable across processes, unlike string.GetHashCode
        foreach (var c in culpritId)
            hash = (hash ^ c) * 1099511628211UL;
        return $"{(pod.Length > 200 ? pod[..200] : pod)}.tracer.{hash:x16}";
    }

    public void Dispose() => client.Dispose();
}
