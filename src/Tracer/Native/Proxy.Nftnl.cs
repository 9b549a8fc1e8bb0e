using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>libnftnl (libnftnl/trace.h): nftables trace events.</summary>
internal static unsafe partial class Proxy
{
    /// <summary>Null when out of memory; free with <see cref="nftnl_trace_free"/>.</summary>
    public static nftnl_trace* nftnl_trace_alloc() => Nftnl.nftnl_trace_alloc();

    public static void nftnl_trace_free(nftnl_trace* trace) => Nftnl.nftnl_trace_free(trace);

    /// <summary>False when the message is not a trace event.</summary>
    public static bool nftnl_trace_nlmsg_parse(nlmsghdr* message, nftnl_trace* trace) => Nftnl.nftnl_trace_nlmsg_parse(message, trace) >= 0;

    public static bool nftnl_trace_is_set(nftnl_trace* trace, nftnl_trace_attr attribute) => Nftnl.nftnl_trace_is_set(trace, (ushort)attribute) != 0;

    public static uint nftnl_trace_get_u32(nftnl_trace* trace, nftnl_trace_attr attribute) => Nftnl.nftnl_trace_get_u32(trace, (ushort)attribute);

    public static ulong nftnl_trace_get_u64(nftnl_trace* trace, nftnl_trace_attr attribute) => Nftnl.nftnl_trace_get_u64(trace, (ushort)attribute);

    public static string nftnl_trace_get_str(nftnl_trace* trace, nftnl_trace_attr attribute) =>
        Marshal.PtrToStringUTF8((nint)Nftnl.nftnl_trace_get_str(trace, (ushort)attribute)) ?? "";

    /// <summary>A copy of a binary attribute (a packet header); empty when there is none.</summary>
    public static byte[] nftnl_trace_get_data(nftnl_trace* trace, nftnl_trace_attr attribute)
    {
        uint length = 0;
        var data = Nftnl.nftnl_trace_get_data(trace, (ushort)attribute, &length);
        return data == null ? [] : new ReadOnlySpan<byte>(data, (int)length).ToArray();
    }
}
