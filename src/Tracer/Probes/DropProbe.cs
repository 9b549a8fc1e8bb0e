using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tracer.Native;

namespace Tracer.Probes;

internal sealed record DropProbeOptions(bool WatchAll = false, bool CaptureStacks = false, int SamplesPerKey = DropEvent.TRACER_DEFAULT_SAMPLES_PER_KEY);

/// <summary>
/// User-space half of bpf/drop_tracer.bpf.c: loads and attaches it, owns its maps, and drains
/// the per-CPU aggregates by swapping the active map (see the BPF source for why that is exact).
/// </summary>
internal sealed class DropProbe : IDisposable
{
    private const string ObjectFile = "drop_tracer.bpf.o";
    private const int SampleCapacity = 16384;

    private static readonly (string Program, string AttachPoint)[] Variants =
    [
        ("kfree_skb_btf", "tp_btf/kfree_skb"),
        ("kfree_skb_tp", "tracepoint/skb/kfree_skb"),
    ];

    private readonly BpfObject _object;
    private readonly BpfMap _activeAggregate;
    private readonly BpfMap[] _aggregates;
    private readonly BpfMap _counters;
    private readonly BpfMap _stacks;
    private readonly SampleCollector _samples = new(SampleCapacity);
    private readonly int _cpus;
    private readonly drop_key[] _keys;
    private readonly drop_stats[] _values;
    private readonly ulong[] _counterTotals = new ulong[(int)tracer_counter.TRACER_COUNTER_MAX];
    private BpfLink? _link;
    private RingBuffer? _ring;
    private int _active;

    private DropProbe(BpfObject obj, string attachPoint)
    {
        _object = obj;
        AttachPoint = attachPoint;
        Watched = new WatchedSet(obj.Map("watched"));
        _activeAggregate = obj.Map("active_aggregate");
        _aggregates = [obj.Map("aggregate_a"), obj.Map("aggregate_b")];
        _counters = obj.Map("counters");
        _stacks = obj.Map("stacks");
        _cpus = Proxy.libbpf_num_possible_cpus();
        const int maxKeys = 8192; // max_entries of aggregate_map in drop_tracer.bpf.c
        _keys = new drop_key[maxKeys];
        _values = new drop_stats[maxKeys * _cpus];
    }

    /// <summary>The attach point in use: tp_btf where the kernel allows it, else the classic tracepoint.</summary>
    public string AttachPoint { get; }

    /// <summary>Why the preferred attach point was not used, if it was not.</summary>
    public string? FallbackReason { get; private init; }

    public WatchedSet Watched { get; }

    /// <summary>Loads the programs; nothing is attached until <see cref="Attach"/>, so the watched set can be filled first.</summary>
    public static DropProbe Load(DropProbeOptions options, ILogger logger)
    {
        string? fallbackReason = null;
        for (var i = 0; ; i++)
        {
            var (program, attachPoint) = Variants[i];
            var obj = BpfObject.Open(EmbeddedObjects.Read(ObjectFile), "drop_tracer");
            try
            {
                foreach (var candidate in obj.Programs)
                    candidate.Autoload = candidate.Name == program;
                obj.SetReadOnlyData(".rodata.config", new tracer_config
                {
                    watch_all = options.WatchAll ? 1u : 0u,
                    capture_stack = options.CaptureStacks ? 1u : 0u,
                    samples_per_key = (uint)options.SamplesPerKey,
                });
                obj.Load();
                return new DropProbe(obj, attachPoint) { FallbackReason = fallbackReason };
            }
            catch (BpfException e) when (i + 1 < Variants.Length && !e.IsPermissionDenied)
            {
                obj.Dispose();
                fallbackReason = $"{attachPoint} refused: {e.Message}";
                logger.LogInformation("{AttachPoint} did not load ({Error}); falling back to {Next}", attachPoint, e.Message, Variants[i + 1].AttachPoint);
            }
            catch
            {
                obj.Dispose();
                throw;
            }
        }
    }

    /// <summary>Attaches the program and starts consuming samples.</summary>
    public void Attach()
    {
        var program = _object.Program(Variants.First(v => v.AttachPoint == AttachPoint).Program);
        _ring = new RingBuffer(_object.Map("samples"), _samples, "drop-samples");
        _link = program.Attach();
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
        var draining = _aggregates[_active];
        _active ^= 1;
        // Waits for an RCU grace period: afterwards no program still writes to `draining`.
        _activeAggregate.SetInnerMap(0, _aggregates[_active]);

        var counts = new List<DropCount>();
        draining.DrainBatch(_keys, _values, count =>
        {
            for (var i = 0; i < count; i++)
                counts.Add(Sum(_keys[i], _values.AsSpan(i * _cpus, _cpus)));
        });
        if (_ring?.Fault is { } fault)
            throw fault;
        return new DropInterval(counts, ReadCounters(), _samples.Take());
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

    private ProbeCounters ReadCounters()
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
        return new ProbeCounters(
            delta[(int)tracer_counter.TRACER_COUNTER_DROPS],
            delta[(int)tracer_counter.TRACER_COUNTER_SAMPLES_LOST] + _samples.Discarded,
            delta[(int)tracer_counter.TRACER_COUNTER_OVERFLOW_PACKETS],
            delta[(int)tracer_counter.TRACER_COUNTER_OVERFLOW_BYTES],
            delta[(int)tracer_counter.TRACER_COUNTER_STACKS_LOST]);
    }

    /// <summary>The kernel stack of a sample, innermost frame first; empty if it is gone.</summary>
    public ulong[] Stack(int stackId)
    {
        if (stackId < 0)
            return [];
        var frames = new byte[127 * sizeof(ulong)];
        if (!_stacks.Lookup(stackId, frames))
            return [];
        return MemoryMarshal.Cast<byte, ulong>(frames).ToArray().TakeWhile(address => address != 0).ToArray();
    }

    public void Dispose()
    {
        Detach();
        _ring?.Dispose();
        _object.Dispose();
    }
}
