using System.Net;
using Microsoft.Extensions.Logging;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Telemetry;

namespace Tracer.Daemon;

/// <summary>One on-demand session: a pod watched in detail, its records streamed to a client, and exported as a trace of its own.</summary>
internal sealed class OnDemandSession(string id, string target, IReadOnlyList<IPNetwork> networks, DateTimeOffset? ends, bool stacks,
                                      IDropOutput client, TelemetryOutput? telemetry, int clientPid)
{
    private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _detailed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<DropRecord> _held = []; // records that came before the client was told the session started
    private bool _open;
    private readonly Lock _gate = new(); // the trace loop writes, a socket handler may end it
    private ulong _drops;
    private ulong _bytes;

    public string Id { get; } = id;
    public string Target { get; } = target;
    public IReadOnlyList<IPNetwork> Networks { get; } = networks;
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? Ends { get; } = ends;
    public int ClientPid { get; } = clientPid;
    public string? TraceId => telemetry?.TraceId;
    public ulong Drops => Interlocked.Read(ref _drops);
    public ulong Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Completes once the probe watches the pod in detail.</summary>
    public Task Detailed => _detailed.Task;

    public void MarkDetailed() => _detailed.TrySetResult();

    /// <summary>The client has its reply: records held until now follow it (unless the session ended meanwhile).</summary>
    public bool Open()
    {
        lock (_gate)
        {
            if (_ended.Task.IsCompleted)
                return true;
            _open = true;
            var sent = Send(_held);
            _held.Clear();
            return sent;
        }
    }

    /// <summary>Completes with why the session ended.</summary>
    public Task<string> Ended => _ended.Task;

    public bool Concerns(DropFlow flow) => Networks.Any(flow.Touches);

    /// <summary>The interval's records of this pod; false when the client is gone.</summary>
    public bool Write(IReadOnlyList<DropRecord> records)
    {
        var mine = records.Where(r => r.Flow is { } flow && Concerns(flow)).Select(r => stacks ? r : r with { Stack = null }).ToList();
        lock (_gate)
        {
            if (_ended.Task.IsCompleted)
                return true;
            Interlocked.Add(ref _drops, mine.Aggregate(0UL, (sum, r) => sum + r.Count));
            Interlocked.Add(ref _bytes, mine.Aggregate(0UL, (sum, r) => sum + r.Bytes));
            telemetry?.Write(mine);
            if (_open)
                return Send(mine);
            _held.AddRange(mine);
            return true;
        }
    }

    private bool Send(List<DropRecord> records)
    {
        try
        {
            client.Write(records);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Ends the session once: the open episodes and the session span are exported, the client's stream closes.</summary>
    public void End(string why)
    {
        lock (_gate)
        {
            if (!_ended.TrySetResult(why))
                return;
            var summary = new TraceSummary(DateTimeOffset.UtcNow - Started, Drops, Bytes, default, new Dictionary<string, ulong>());
            telemetry?.Complete(summary);
            telemetry?.Dispose();
            try
            {
                client.Complete(summary);
            }
            catch (IOException)
            {
                // the client is gone
            }
            client.Dispose();
        }
    }
}

/// <summary>
/// The daemon's on-demand sessions: several at once, each fed the records of its pod by the
/// continuous trace, whose probe samples those addresses in detail while a session lasts.
/// </summary>
internal sealed class OnDemandSessions(ILogger<OnDemandSessions> logger)
{
    private readonly Dictionary<string, OnDemandSession> _sessions = [];
    private readonly Lock _gate = new();
    private OnDemandSession[] _asked = [];
    private int _next;

    public string NextId() => $"s{Interlocked.Increment(ref _next)}";

    public IReadOnlyList<OnDemandSession> List()
    {
        lock (_gate)
            return [.. _sessions.Values];
    }

    /// <summary>The addresses the probe watches in detail: those of every running session.</summary>
    public IReadOnlyCollection<IPNetwork> DetailedNetworks()
    {
        lock (_gate)
        {
            _asked = [.. _sessions.Values];
            return [.. _asked.SelectMany(s => s.Networks).Distinct()];
        }
    }

    /// <summary>The probe now watches what <see cref="DetailedNetworks"/> last returned.</summary>
    public void DetailApplied()
    {
        OnDemandSession[] asked;
        lock (_gate)
            asked = _asked;
        foreach (var session in asked)
            session.MarkDetailed();
    }

    public void Add(OnDemandSession session)
    {
        lock (_gate)
            _sessions[session.Id] = session;
        logger.LogInformation("session {Id} started for {Target} ({Networks})", session.Id, session.Target, string.Join(", ", session.Networks));
    }

    /// <summary>Ends a session; false when there is no such session.</summary>
    public bool Stop(string id, string why)
    {
        OnDemandSession? session;
        lock (_gate)
        {
            if (!_sessions.Remove(id, out session))
                return false;
        }
        session.End(why);
        logger.LogInformation("session {Id} for {Target} ended: {Why}; {Drops} drops", session.Id, session.Target, why, session.Drops);
        return true;
    }

    /// <summary>Hands each session its pod's records of the interval; ends those whose time is up or whose client is gone.</summary>
    public void Write(IReadOnlyList<DropRecord> records)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var session in List())
        {
            if (!session.Write(records))
                Stop(session.Id, "the client went away");
            else if (session.Ends is { } ends && now >= ends)
                Stop(session.Id, "its duration is over");
        }
    }

    public void StopAll(string why)
    {
        foreach (var session in List())
            Stop(session.Id, why);
    }
}
