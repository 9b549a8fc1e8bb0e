
namespace Tracer.Discovery;

/// <summary>Where a trace learns the node's pods; asked again every interval, so pods that come and go are followed.</summary>
internal interface IPodSource
{
    PodSnapshot Current { get; }
}
