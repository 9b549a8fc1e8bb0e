using Tracer.Native;

namespace Tracer.Kernel;

/// <summary>Converts the kernel's CLOCK_BOOTTIME stamps (bpf_ktime_get_boot_ns) to wall-clock time.</summary>
internal static class BootClock
{
    public static ulong NowNs => Nanoseconds(Libc.CLOCK_BOOTTIME);

    /// <summary>CLOCK_MONOTONIC: the clock the kernel log's records are stamped by (they stop during suspend, as it does).</summary>
    public static ulong MonotonicNowNs => Nanoseconds(Libc.CLOCK_MONOTONIC);

    /// <summary>Reads both clocks now, so NTP steps since start are honoured.</summary>
    public static DateTimeOffset ToWallClock(ulong bootNs)
    {
        var realtime = Nanoseconds(Libc.CLOCK_REALTIME);
        var boottime = Nanoseconds(Libc.CLOCK_BOOTTIME);
        var wallNs = (long)realtime - ((long)boottime - (long)bootNs);
        return DateTimeOffset.UnixEpoch.AddTicks(wallNs / 100);
    }

    private static ulong Nanoseconds(int clock)
    {
        var time = Proxy.clock_gettime(clock);
        return (ulong)time.tv_sec * 1_000_000_000UL + (ulong)time.tv_nsec;
    }
}
