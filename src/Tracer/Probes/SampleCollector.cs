using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// Keeps the ring buffer's drop samples until the next interval, and the SELinux denials some of them
/// carry. The consumer thread only copies structs into preallocated arrays: no allocation per sample.
/// </summary>
internal sealed class SampleCollector(int capacity, int denialCapacity = 256) : IRingBufferConsumer
{
    private readonly drop_sample[] _samples = new drop_sample[capacity];
    private readonly (drop_key Key, avc_denial Denial)[] _denials = new (drop_key, avc_denial)[denialCapacity];
    private int _count;
    private int _denialCount;
    private readonly Lock _gate = new();

    private ulong _discarded;

    public void OnRecord(ReadOnlySpan<byte> record)
    {
        var sampleSize = Unsafe.SizeOf<drop_sample>();
        if (record.Length < sampleSize)
            return;
        lock (_gate)
        {
            if (_count == _samples.Length)
            {
                _discarded++;
                return;
            }
            var sample = _samples[_count++] = MemoryMarshal.Read<drop_sample>(record);
            // A sample followed by a struct avc_denial (drop_event.h); one per flow is enough evidence.
            if (record.Length >= sampleSize + Unsafe.SizeOf<avc_denial>() && _denialCount < _denials.Length)
                _denials[_denialCount++] = (sample.key, MemoryMarshal.Read<avc_denial>(record[sampleSize..]));
        }
    }

    /// <summary>The samples since the last call, in arrival order, how many did not fit, and the SELinux denials they carried.</summary>
    public drop_sample[] Take(out ulong discarded, out (drop_key Key, avc_denial Denial)[] denials)
    {
        lock (_gate)
        {
            var taken = _samples.AsSpan(0, _count).ToArray();
            denials = _denials.AsSpan(0, _denialCount).ToArray();
            _count = 0;
            _denialCount = 0;
            discarded = _discarded;
            _discarded = 0;
            return taken;
        }
    }
}
