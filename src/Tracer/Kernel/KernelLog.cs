using System.Globalization;
using System.Text;
using Tracer.Native;

namespace Tracer.Kernel;

/// <summary>
/// The kernel's recent audit records, where a security module's denial is written: the kernel log
/// (<c>/dev/kmsg</c>, when no audit daemon takes them) and auditd's log. Read on demand, never followed.
/// </summary>
internal static class KernelLog
{
    private const string AuditLog = "/var/log/audit/audit.log";
    private const int AuditTail = 256 * 1024;

    /// <summary>The messages of the last <paramref name="window"/>, oldest first: the kernel log's, then auditd's.</summary>
    public static IReadOnlyList<string> Recent(TimeSpan window)
    {
        var messages = new List<string>();
        var (nowUs, windowUs) = (BootClock.MonotonicNowNs / 1000, (ulong)(window.Ticks / 10));
        var since = nowUs > windowUs ? nowUs - windowUs : 0;
        try
        {
            using var kmsg = Proxy.open("/dev/kmsg", Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
            var buffer = new byte[8192]; // a record is at most 8 KB (PRINTKRB_RECORD_MAX)
            int read;
            while ((read = Proxy.read(kmsg, buffer)) > 0)
                if (KmsgRecord(Encoding.UTF8.GetString(buffer, 0, read)) is var (stampUs, message) && stampUs >= since)
                    messages.Add(message);
        }
        catch (NativeException)
        {
            // No /dev/kmsg (or no right to read it): auditd's log may still have them.
        }
        messages.AddRange(RecentAudit(DateTimeOffset.UtcNow - window));
        return messages;
    }

    /// <summary>"PRIORITY,SEQUENCE,MICROSECONDS,FLAGS[,…];MESSAGE" (Documentation/ABI/testing/dev-kmsg); continuation lines dropped.</summary>
    internal static (ulong StampUs, string Message)? KmsgRecord(string record)
    {
        var header = record.IndexOf(';');
        if (header < 0)
            return null;
        var fields = record[..header].Split(',');
        if (fields.Length < 3 || !ulong.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var stamp))
            return null;
        var end = record.IndexOf('\n', header);
        return (stamp, record[(header + 1)..(end < 0 ? record.Length : end)]);
    }

    /// <summary>auditd's lines stamped <c>msg=audit(SECONDS.MILLIS:SERIAL)</c> since <paramref name="since"/>, from the end of its log.</summary>
    private static IEnumerable<string> RecentAudit(DateTimeOffset since)
    {
        if (!File.Exists(AuditLog))
            return [];
        try
        {
            using var log = File.OpenRead(AuditLog);
            log.Seek(Math.Max(0, log.Length - AuditTail), SeekOrigin.Begin);
            var text = new StreamReader(log).ReadToEnd();
            return [.. text.Split('\n').Where(line => AuditStamp(line) is { } stamp && stamp >= since)];
        }
        catch (IOException)
        {
            return [];
        }
    }

    internal static DateTimeOffset? AuditStamp(string line)
    {
        var start = line.IndexOf("audit(", StringComparison.Ordinal);
        var end = start < 0 ? -1 : line.IndexOf(':', start);
        return end > start && decimal.TryParse(line[(start + 6)..end], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.UnixEpoch.AddMilliseconds((double)(seconds * 1000))
            : null;
    }
}
