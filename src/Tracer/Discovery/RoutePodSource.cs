
namespace Tracer.Discovery;

/// <summary>Pods from the routing table (<see cref="PodRouteDiscovery"/>), reread every few seconds.</summary>
internal sealed class RoutePodSource(TimeSpan refresh) : IPodSource
{
    private PodSnapshot? _current;
    private long _readAt;

    public PodSnapshot Current
    {
        get
        {
            if (_current is null || Environment.TickCount64 - _readAt >= refresh.TotalMilliseconds)
            {
                _current = new PodSnapshot([.. PodRouteDiscovery.Discover().Select(r => new LocalPod(r.Network, r.Interface, null))], "routes");
                _readAt = Environment.TickCount64;
            }
            return _current;
        }
    }
}
