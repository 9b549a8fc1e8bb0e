using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tracer.Native;
using Maps = Tracer.Native.DropTracerObject.Maps;

namespace Tracer.Probes;

/// <param name="SelinuxDenials">Samples take the SELinux denials bpf/selinux_avc.bpf.c notes (<see cref="DropProbe.AvcLast"/>).</param>
internal sealed record DropProbeOptions(bool WatchAll = false, bool CaptureStacks = false, int SamplesPerKey = DropEvent.TRACER_DEFAULT_SAMPLES_PER_KEY,
                                        bool SelinuxDenials = false);

/// <summary>
/// User-space half of bpf/drop_tracer.bpf.c: loads and attaches it, owns its maps, and drains
/// the per-CPU aggregates by swapping the active map (see the BPF source for why that is exact).
/// </summary>
internal sealed class DropProbe : IProbe
{
    private const int SampleCapacity = 16384;

    private static readonly (string Program, string AttachPoint)[] Variants =
    [
        (DropTracerObject.Programs.kfree_skb_btf, DropTracerObject.Sections.kfree_skb_btf),
        (DropTracerObject.Programs.kfree_skb_tp, DropTracerObject.Sections.kfree_skb_tp),
    ];

    private readonly BpfObject _object;
    private readonly BpfMap _activeAggregate;
    private readonly BpfMap[] _aggregates;
    private readonly BpfMap _activeCoarse;
    private readonly BpfMap[] _coarse;
    private readonly BpfMap _activeCache;
    private readonly BpfMap[] _caches;
    private readonly flow_cache[] _cacheValues;
    private readonly BpfMap _counters;
    private readonly BpfMap _stacks;
    private readonly SampleCollector _samples = new(SampleCapacity);
    private readonly int _cpus;
    private readonly drop_key[] _keys;
    private readonly drop_stats[] _values;
    private readonly ulong[] _counterTotals = new ulong[(int)tracer_counter.TRACER_COUNTER_MAX];
    private readonly BpfProgram _program;
    private BpfLink? _link;
    private ulong _missedRuns;
    private RingBuffer? _ring;
    private int _active;

    private DropProbe(BpfObject obj, BpfProgram program, string attachPoint)
    {
        _object = obj;
        _program = program;
        AttachPoint = attachPoint;
        Watched = new WatchedSet(obj.Map(Maps.watched_hosts), obj.Map(Maps.watched_prefixes), obj.Map(Maps.data_watch));
        _activeAggregate = obj.Map(Maps.active_aggregate);
        _aggregates = [obj.Map(Maps.aggregate_a), obj.Map(Maps.aggregate_b)];
        _activeCoarse = obj.Map(Maps.active_coarse);
        _coarse = [obj.Map(Maps.coarse_a), obj.Map(Maps.coarse_b)];
        _activeCache = obj.Map(Maps.active_cache);
        _caches = [obj.Map(Maps.cache_a), obj.Map(Maps.cache_b)];
        _counters = obj.Map(Maps.counters);
        _stacks = obj.Map(Maps.stacks);
        _cpus = Proxy.libbpf_num_possible_cpus();
        var maxKeys = (int)Math.Max(_aggregates[0].MaxEntries, _coarse[0].MaxEntries);
        _keys = new drop_key[maxKeys];
        _values = new drop_stats[maxKeys * _cpus];
        _cacheValues = new flow_cache[_cpus];
    }

    /// <summary>The attach point in use: tp_btf where the kernel allows it, else the classic tracepoint.</summary>
    public string AttachPoint { get; }

    /// <summary>Why the preferred attach point was not used, if it was not.</summary>
    public string? FallbackReason { get; private init; }

    public WatchedSet Watched { get; }

    /// <summary>The per-CPU trail the netfilter sentinels write and this probe reads.</summary>
    public BpfMap SentinelTrail => _object.Map(Maps.sentinel_trail);

    /// <summary>The per-CPU drop verdict the exact tier writes and this probe reads.</summary>
    public BpfMap HookVerdict => _object.Map(Maps.hook_verdict);

    /// <summary>Loaded to take SELinux denials into samples (<see cref="DropProbeOptions.SelinuxDenials"/>).</summary>
    public bool TakesSelinuxDenials { get; private init; }

    /// <summary>This CPU's last enforced SELinux denial, which bpf/selinux_avc.bpf.c writes and this probe takes.</summary>
    public BpfMap AvcLast => _object.Map(Maps.avc_last);

    /// <summary>Loads the programs; nothing is attached until <see cref="Attach"/>, so the watched set can be filled first.</summary>
    public static DropProbe Load(DropProbeOptions options, ILogger logger)
    {
        string? fallbackReason = null;
        for (var i = 0; ; i++)
        {
            var (program, attachPoint) = Variants[i];
            try
            {
                return EmbeddedObjects.Load(DropTracerObject.File, obj =>
                {
                    foreach (var candidate in obj.Programs)
                        candidate.Autoload = candidate.Name == program;
                    obj.SetReadOnlyData(Maps.rodata_config, new tracer_config
                    {
                        watch_all = options.WatchAll ? 1u : 0u,
                        capture_stack = options.CaptureStacks ? 1u : 0u,
                        samples_per_key = (uint)options.SamplesPerKey,
                        selinux_denials = options.SelinuxDenials ? 1u : 0u,
                        flows_per_coarse_key = FlowsPerCoarseKey(obj.MaxEntries(Maps.aggregate_a), Proxy.libbpf_num_possible_cpus()),
                    });
                }, obj => new DropProbe(obj, obj.Program(program), attachPoint) { FallbackReason = fallbackReason, TakesSelinuxDenials = options.SelinuxDenials });
            }
            catch (NativeException e) when (i + 1 < Variants.Length && !e.IsPermissionDenied)
            {
                fallbackReason = $"{attachPoint} refused: {e.Message}";
                logger.LogInformation("{AttachPoint} did not load ({Error}); falling back to {Next}", attachPoint, e.Message, Variants[i + 1].AttachPoint);
            }
        }
    }

    /// <summary>
    /// A coarse key's own flows per CPU and interval: every CPU together may give one coarse key at most a quarter of
    /// the flow map, so a scan spread over many CPUs still leaves room for other pods' flows.
    /// </summary>
    internal static uint FlowsPerCoarseKey(uint flowMapSize, int cpus) =>
        Math.Clamp(flowMapSize / 4 / (uint)Math.Max(cpus, 1), 1, (uint)DropEvent.TRACER_MAX_FLOWS_PER_COARSE_KEY);

    /// <summary>Attaches the program and starts consuming samples.</summary>
    public void Attach()
    {
        _ring = new RingBuffer(_object.Map(Maps.samples), _samples, "drop-samples");
        _link = _program.Attach();
    }

    /// <summary>Stops counting new drops. <see cref="Drain"/> still returns what was counted before.</summary>
    public void Detach()
    {
        _link?.Dispose();
        _link = null;
    }

    /// <summary>Everything counted since the previous call. Exact: no drop is counted twice or missed.</summary>
    public DropInterval Drain()
    {
        var draining = _active;
        _active ^= 1;
        // Each update waits for an RCU grace period: afterwards no program still writes to the maps being
        // drained. A run between two swaps flushes what it counts into maps drained now or next time: nothing is lost.
        _activeCache.SetInnerMap(0, _caches[_active]);
        _activeAggregate.SetInnerMap(0, _aggregates[_active]);
        _activeCoarse.SetInnerMap(0, _coarse[_active]);

        var counts = new Dictionary<DropFlow, DropCount>();
        DrainCounts(_aggregates[draining], counts);
        DrainCounts(_coarse[draining], counts);
        MergeRunCaches(_caches[draining], counts);
        if (_ring?.Fault is { } fault)
            throw fault;
        var samples = _samples.Take(out var discarded, out var denials);
        var interval = new DropInterval([.. counts.Values], ReadCounters(discarded), samples);
        if (denials.Length == 0)
            return interval;
        var denied = new Dictionary<DropFlow, SelinuxDenial>();
        foreach (var (key, denial) in denials)
        {
            var flow = DropFlow.From(key);
            if (!denied.ContainsKey(flow))
                denied[flow] = SelinuxDenial.From(denial);
        }
        return interval with { SelinuxDenials = denied };
    }

    /// <summary>Moves a map's buckets out; a coarse bucket that only kept its flows' budget (no drop of its own) is skipped.</summary>
    private void DrainCounts(BpfMap map, Dictionary<DropFlow, DropCount> counts) => map.DrainBatch(_keys, _values, count =>
    {
        for (var i = 0; i < count; i++)
        {
            var sum = Sum(_keys[i], _values.AsSpan(i * _cpus, _cpus));
            if (sum.Packets > 0)
                counts[sum.Flow] = sum;
        }
    });

    /// <summary>Adds each CPU's not-yet-flushed runs (a flow's, a saturated coarse key's) to their counts, then empties the cache for reuse.</summary>
    private void MergeRunCaches(BpfMap cache, Dictionary<DropFlow, DropCount> counts)
    {
        if (!cache.LookupPerCpu(0u, _cacheValues.AsSpan()))
            return;
        foreach (ref readonly var run in _cacheValues.AsSpan())
        {
            if (run.valid != 0)
                AddRun(counts, run.key, run.packets, run.bytes, run.last_ns);
            if (run.coarse_valid != 0)
                AddRun(counts, run.coarse_key, run.coarse_packets, run.coarse_bytes, run.coarse_last_ns);
        }
        Array.Clear(_cacheValues);
        cache.UpdatePerCpu(0u, _cacheValues.AsSpan());
    }

    private static void AddRun(Dictionary<DropFlow, DropCount> counts, in drop_key key, ulong packets, ulong bytes, ulong lastNs)
    {
        if (packets == 0)
            return;
        var flow = DropFlow.From(key);
        counts[flow] = counts.TryGetValue(flow, out var known)
            ? known with { Packets = known.Packets + packets, Bytes = known.Bytes + bytes, LastNs = Math.Max(known.LastNs, lastNs) }
            : new DropCount(flow, packets, bytes, lastNs, lastNs);
    }

    private static DropCount Sum(in drop_key key, ReadOnlySpan<drop_stats> perCpu)
    {
        ulong packets = 0, bytes = 0, first = ulong.MaxValue, last = 0;
        foreach (ref readonly var stats in perCpu)
        {
            if (stats.packets == 0)
                continue;
            packets += stats.packets;
            bytes += stats.bytes;
            first = Math.Min(first, stats.first_ns);
            last = Math.Max(last, stats.last_ns);
        }
        return new DropCount(DropFlow.From(key), packets, bytes, packets == 0 ? 0 : first, last);
    }

    private ProbeCounters ReadCounters(ulong samplesDiscarded)
    {
        Span<ulong> perCpu = stackalloc ulong[_cpus];
        Span<ulong> delta = stackalloc ulong[_counterTotals.Length];
        for (var index = 0u; index < _counterTotals.Length; index++)
        {
            _counters.LookupPerCpu(index, perCpu);
            ulong total = 0;
            foreach (var value in perCpu)
                total += value;
            delta[(int)index] = total - _counterTotals[index];
            _counterTotals[index] = total;
        }
        var missed = _program.RecursionMisses;
        var missedDelta = missed - _missedRuns;
        _missedRuns = missed;
        return new ProbeCounters(
            delta[(int)tracer_counter.TRACER_COUNTER_SAMPLES_LOST] + samplesDiscarded,
            delta[(int)tracer_counter.TRACER_COUNTER_OVERFLOW_PACKETS],
            delta[(int)tracer_counter.TRACER_COUNTER_OVERFLOW_BYTES],
            delta[(int)tracer_counter.TRACER_COUNTER_STACKS_LOST],
            missedDelta,
            delta[(int)tracer_counter.TRACER_COUNTER_OVERFLOW_BUSY_PACKETS]);
    }

    /// <summary>The kernel stack of a sample, innermost frame first; empty if it is gone.</summary>
    public ulong[] Stack(int stackId)
    {
        if (stackId < 0)
            return [];
        var frames = new ulong[_stacks.ValueSize / sizeof(ulong)]; // addresses, zero-padded
        if (!_stacks.Lookup(stackId, MemoryMarshal.AsBytes(frames.AsSpan())))
            return [];
        var depth = Array.IndexOf(frames, 0UL);
        return depth < 0 ? frames : frames[..depth];
    }

    public void Dispose()
    {
        Detach();
        _ring?.Dispose();
        _ring = null;
        _object.Dispose();
    }
}
