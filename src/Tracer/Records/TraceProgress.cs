using Tracer.Probes;

namespace Tracer.Records;

/// <summary>
/// How a running trace stands after an interval: the probe's loss counters since it started, the addresses it
/// watches, and the netfilter hook points where attribution is armed (nftables trace, sentinels, verdict observers).
/// </summary>
internal readonly record struct TraceProgress(ProbeCounters Totals, int WatchedAddresses, int ArmedHookPoints);
