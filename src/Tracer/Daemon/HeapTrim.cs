using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Tracer.Daemon;

/// <summary>
/// The daemon runs on every node for weeks with a small live heap (a few MB), but each interval's records,
/// spans and pod lists live just long enough to be promoted. The GC's own gen2 budget then lets ~20 MB of
/// that garbage pile up before its first full collection (measured by benchmarks/soak.sh: RSS climbing
/// ~1 MB a minute, falling back at the full collection). A node agent is judged by its memory ceiling, so
/// once a minute the daemon compacts the heap itself: a few milliseconds of pause for a flat RSS.
/// </summary>
internal sealed class HeapTrim(ILogger<HeapTrim> logger) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var before = GC.GetTotalMemory(forceFullCollection: false);
                var clock = Stopwatch.StartNew();
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                logger.LogDebug("heap compacted: {Before} → {After} bytes in {Milliseconds} ms",
                                before, GC.GetTotalMemory(forceFullCollection: false), clock.Elapsed.TotalMilliseconds);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
