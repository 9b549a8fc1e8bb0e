using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// Keeps the ring buffer's drop samples until the next interval. The consumer thread only
/// copies a struct into a preallocated array: no allocation per sample.
/// </summary>
internal sealed class SampleCollector(int capacity) : IRingBufferConsumer
{
    private readonly drop_sample[] _samples = new drop_sample[capacity];
    private int _count;
    private readonly Lock _gate = new();

    private ulong _discarded;

    public void OnRecord(ReadOnlySpan<byte> record)
    {
        if (record.Length < Unsafe.SizeOf<drop_sample>())
            return;
        lock (_gate)
        {
            if (_count == _samples.Length)
            {
                _discarded++;
                return;
            }
            _samples[_count++] = MemoryMarshal.Read<drop_sample>(record);
        }
    }

    /// <summary>The samples since the last call, in arrival order, and how many did not fit.</summary>
    public drop_sample[] Take(out ulong discarded)
    {
        lock (_gate)
        {
            var taken = _samples.AsSpan(0, _count).ToArray();
            _count = 0;
            discarded = _discarded;
            _discarded = 0;
            return taken;
        }
    }
}
