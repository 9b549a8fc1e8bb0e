namespace Tracer.Daemon;

/// <summary>
/// What /healthz and /readyz report. Ready: the probe is attached and its counts were drained
/// recently (the ring buffer's consumer faults surface there). Live: not failed, and either still
/// starting or draining, so a wedged trace loop is restarted by the kubelet.
/// </summary>
internal sealed class DaemonHealth(TimeSpan interval)
{
    private long _lastDrain = Environment.TickCount64;
    private volatile bool _attached;
    private volatile string? _failure;

    public string? Status { get; private set; }

    public void Attached(string status)
    {
        Status = status;
        Interlocked.Exchange(ref _lastDrain, Environment.TickCount64);
        _attached = true;
    }

    public void Drained() => Interlocked.Exchange(ref _lastDrain, Environment.TickCount64);

    public void Failed(string failure)
    {
        _failure = failure;
        _attached = false;
    }

    private TimeSpan SinceDrain => TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastDrain));

    public (bool Ok, string Why) Ready => _failure is { } failure ? (false, $"tracing failed: {failure}")
        : !_attached ? (false, "starting: BPF programs not attached yet")
        : SinceDrain > interval * 3 + TimeSpan.FromSeconds(2) ? (false, $"drop counts not drained for {SinceDrain.TotalSeconds:F0}s")
        : (true, Status ?? "tracing");

    public (bool Ok, string Why) Live => _failure is { } failure ? (false, $"tracing failed: {failure}")
        : _attached && SinceDrain > interval * 10 + TimeSpan.FromSeconds(10) ? (false, $"trace loop stuck: nothing drained for {SinceDrain.TotalSeconds:F0}s")
        : (true, "alive");
}
