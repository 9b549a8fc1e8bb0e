using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Tracer.Native;

/// <summary>
/// Routes libbpf's printf-style log to an ILogger, and keeps the latest warnings of the
/// calling thread so that a failed call's exception can carry them (the verifier log).
/// </summary>
internal static unsafe class LibbpfLog
{
    private const int MaxRecentWarnings = 200;
    private static ILogger? s_logger;

    [ThreadStatic]
    private static List<string>? t_recentWarnings;

    /// <summary>Where libbpf's messages go; without one they are only kept for exceptions.</summary>
    public static ILogger? Logger
    {
        set => s_logger = value;
    }

    /// <summary>Called by <see cref="Proxy"/> before the first libbpf call.</summary>
    internal static void Hook() => Libbpf.libbpf_set_print(&Print);

    public static IReadOnlyList<string> TakeRecentWarnings()
    {
        var warnings = t_recentWarnings ?? [];
        t_recentWarnings = null;
        return warnings;
    }

    [UnmanagedCallersOnly]
    private static int Print(libbpf_print_level level, sbyte* format, void* args)
    {
        const int size = 4096;
        var buffer = stackalloc sbyte[size];
        Libc.vsnprintf(buffer, size, format, args);
        var line = new string(buffer).TrimEnd('\n');

        if (level == libbpf_print_level.LIBBPF_WARN)
        {
            var recent = t_recentWarnings ??= [];
            if (recent.Count < MaxRecentWarnings)
                recent.Add(line);
        }
        s_logger?.Log(level switch
        {
            libbpf_print_level.LIBBPF_WARN => LogLevel.Debug, // failures surface as exceptions; this is detail
            libbpf_print_level.LIBBPF_INFO => LogLevel.Debug,
            _ => LogLevel.Trace,
        }, "libbpf: {Line}", line);
        return 0;
    }
}
