using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>Receives ring-buffer records on the consumer thread; must not allocate or block.</summary>
internal interface IRingBufferConsumer
{
    void OnRecord(ReadOnlySpan<byte> record);
}

/// <summary>
/// Consumes a BPF ring buffer on a dedicated thread. Records reach the consumer through an
/// UnmanagedCallersOnly callback straight from libbpf, as a span over the ring's memory.
/// </summary>
internal sealed unsafe class RingBuffer : IDisposable
{
    private const int PollTimeoutMs = 100;
    private readonly RingBufferHandle _handle;
    private readonly GCHandle _consumer;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public RingBuffer(BpfMap map, IRingBufferConsumer consumer, string threadName)
    {
        _consumer = GCHandle.Alloc(consumer);
        _handle = Proxy.ring_buffer__new(map.Fd, &OnRecord, (void*)GCHandle.ToIntPtr(_consumer));
        _thread = new Thread(Run) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    /// <summary>Set when polling failed; the consumer thread has stopped.</summary>
    public Exception? Fault { get; private set; }

    private void Run()
    {
        try
        {
            while (!_stopping)
                Proxy.ring_buffer__poll(_handle, PollTimeoutMs);
        }
        catch (NativeException e)
        {
            Fault = e;
        }
    }

    [UnmanagedCallersOnly]
    private static int OnRecord(void* context, void* data, nuint size)
    {
        var consumer = (IRingBufferConsumer)GCHandle.FromIntPtr((nint)context).Target!;
        consumer.OnRecord(new ReadOnlySpan<byte>(data, (int)size));
        return 0;
    }

    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
        _handle.Dispose();
        _consumer.Free();
    }
}
