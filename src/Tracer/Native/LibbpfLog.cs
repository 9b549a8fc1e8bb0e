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

    // A verifier log arrives as one message and can be long; a va_list can be formatted only once.
    [ThreadStatic]
    private static byte[]? t_buffer;

    [UnmanagedCallersOnly]
    private static int Print(libbpf_print_level level, sbyte* format, void* args)
    {
        var buffer = t_buffer ??= new byte[1 << 20];
        string line;
        fixed (byte* text = buffer)
        {
            Libc.vsnprintf((sbyte*)text, (nuint)buffer.Length, format, args);
            line = new string((sbyte*)text).TrimEnd('\n');
        }

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
