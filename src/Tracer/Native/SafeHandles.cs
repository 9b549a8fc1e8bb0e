using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>Owns a <c>struct bpf_object</c>: its programs, maps and their fds.</summary>
internal sealed unsafe class BpfObjectHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal bpf_object* Object => (bpf_object*)handle;

    protected override bool ReleaseHandle()
    {
        Libbpf.bpf_object__close((bpf_object*)handle);
        return true;
    }
}

/// <summary>Owns a <c>struct bpf_link</c>; releasing it detaches the program.</summary>
internal sealed unsafe class BpfLinkHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal bpf_link* Link => (bpf_link*)handle;

    protected override bool ReleaseHandle() => Libbpf.bpf_link__destroy((bpf_link*)handle) == 0;
}

/// <summary>Owns a <c>struct ring_buffer</c> consumer (not the map, which the object owns).</summary>
internal sealed unsafe class RingBufferHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal ring_buffer* RingBuffer => (ring_buffer*)handle;

    protected override bool ReleaseHandle()
    {
        Libbpf.ring_buffer__free((ring_buffer*)handle);
        return true;
    }
}

/// <summary>Owns a parsed <c>struct btf</c>.</summary>
internal sealed unsafe class BtfHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal btf* Btf => (btf*)handle;

    protected override bool ReleaseHandle()
    {
        Libbpf.btf__free((btf*)handle);
        return true;
    }
}

/// <summary>Owns a libnftables context, and with it the netlink socket that owns Tracer's table.</summary>
internal sealed unsafe class NftContextHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal nft_ctx* Context => (nft_ctx*)handle;

    protected override bool ReleaseHandle()
    {
        Nftables.nft_ctx_free((nft_ctx*)handle);
        return true;
    }
}

/// <summary>Owns a libmnl netlink socket.</summary>
internal sealed unsafe class MnlSocketHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
{
    internal mnl_socket* Socket => (mnl_socket*)handle;

    protected override bool ReleaseHandle() => Mnl.mnl_socket_close((mnl_socket*)handle) == 0;
}
