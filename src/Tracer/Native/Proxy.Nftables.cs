using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>libnftables (nftables/libnftables.h).</summary>
internal static unsafe partial class Proxy
{
    public static NftContextHandle nft_ctx_new(uint flags) =>
        Own<NftContextHandle>(Ensure.NotNull(Nftables.nft_ctx_new(flags), "nft_ctx_new"));

    // The buffering calls fail only when a memory stream cannot be opened; nft then prints to stdout/stderr
    // instead, which costs Tracer only the text of the output and errors: their results are not checked.

    /// <summary>Keeps what nft prints for <see cref="nft_ctx_get_output_buffer"/> instead of writing it to stdout.</summary>
    public static void nft_ctx_buffer_output(NftContextHandle context) => Nftables.nft_ctx_buffer_output(context.Context);

    /// <summary>Keeps nft's error messages for <see cref="nft_ctx_get_error_buffer"/> instead of writing them to stderr.</summary>
    public static void nft_ctx_buffer_error(NftContextHandle context) => Nftables.nft_ctx_buffer_error(context.Context);

    public static void nft_ctx_output_set_flags(NftContextHandle context, uint flags) =>
        Nftables.nft_ctx_output_set_flags(context.Context, flags);

    /// <summary>Runs nft commands; returns libnftables' result (0: success), for <see cref="Ensure.NftSuccess"/>.</summary>
    public static int nft_run_cmd_from_buffer(NftContextHandle context, string commands)
    {
        fixed (byte* text = Utf8(commands))
            return Nftables.nft_run_cmd_from_buffer(context.Context, (sbyte*)text);
    }

    /// <summary>What nft printed since the last call (reading empties the buffer).</summary>
    public static string nft_ctx_get_output_buffer(NftContextHandle context) =>
        Marshal.PtrToStringUTF8((nint)Nftables.nft_ctx_get_output_buffer(context.Context)) ?? "";

    /// <summary>nft's error messages since the last call (reading empties the buffer).</summary>
    public static string nft_ctx_get_error_buffer(NftContextHandle context) =>
        Marshal.PtrToStringUTF8((nint)Nftables.nft_ctx_get_error_buffer(context.Context)) ?? "";
}
