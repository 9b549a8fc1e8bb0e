namespace Tracer.Native;

/// <summary>One nftables trace event, copied out of libnftnl; unset numbers are -1 / uint.MaxValue.</summary>
internal sealed record NftnlTrace(uint Id, uint Type, int Verdict, int Policy, uint Family, string Table, string Chain, ulong? RuleHandle, byte[] NetworkHeader, byte[] TransportHeader)
{
    /// <summary>Decodes one netlink message; null when it is not a trace event.</summary>
    public static unsafe NftnlTrace? Parse(nlmsghdr* message)
    {
        var trace = Proxy.nftnl_trace_alloc();
        if (trace == null)
            return null;
        try
        {
            if (!Proxy.nftnl_trace_nlmsg_parse(message, trace))
                return null;
            bool IsSet(nftnl_trace_attr a) => Proxy.nftnl_trace_is_set(trace, a);
            uint U32(nftnl_trace_attr a) => IsSet(a) ? Proxy.nftnl_trace_get_u32(trace, a) : uint.MaxValue;
            string Str(nftnl_trace_attr a) => IsSet(a) ? Proxy.nftnl_trace_get_str(trace, a) : "";
            byte[] Data(nftnl_trace_attr a) => IsSet(a) ? Proxy.nftnl_trace_get_data(trace, a) : [];
            return new NftnlTrace(
                U32(nftnl_trace_attr.NFTNL_TRACE_ID),
                U32(nftnl_trace_attr.NFTNL_TRACE_TYPE),
                (int)U32(nftnl_trace_attr.NFTNL_TRACE_VERDICT),
                (int)U32(nftnl_trace_attr.NFTNL_TRACE_POLICY),
                U32(nftnl_trace_attr.NFTNL_TRACE_FAMILY),
                Str(nftnl_trace_attr.NFTNL_TRACE_TABLE),
                Str(nftnl_trace_attr.NFTNL_TRACE_CHAIN),
                IsSet(nftnl_trace_attr.NFTNL_TRACE_RULE_HANDLE) ? Proxy.nftnl_trace_get_u64(trace, nftnl_trace_attr.NFTNL_TRACE_RULE_HANDLE) : null,
                Data(nftnl_trace_attr.NFTNL_TRACE_NETWORK_HEADER),
                Data(nftnl_trace_attr.NFTNL_TRACE_TRANSPORT_HEADER));
        }
        finally
        {
            Proxy.nftnl_trace_free(trace);
        }
    }
}
