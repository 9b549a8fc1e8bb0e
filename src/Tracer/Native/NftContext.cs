namespace Tracer.Native;

/// <summary>
/// A libnftables context: runs nft commands and returns what nft printed, with rule handles shown and
/// counter values left out. Disposing it closes its netlink socket, and with it the tables that socket owns.
/// </summary>
internal sealed class NftContext : IDisposable
{
    private readonly NftContextHandle _handle;

    private NftContext(NftContextHandle handle) => _handle = handle;

    public static NftContext Open()
    {
        var handle = Proxy.nft_ctx_new((uint)Nftables.NFT_CTX_DEFAULT);
        Proxy.nft_ctx_buffer_output(handle);
        Proxy.nft_ctx_buffer_error(handle);
        // Handles identify rules; stateless leaves counter values out of rule texts.
        Proxy.nft_ctx_output_set_flags(handle, (uint)(Nftables.NFT_CTX_OUTPUT_HANDLE | Nftables.NFT_CTX_OUTPUT_STATELESS));
        return new NftContext(handle);
    }

    /// <summary>Runs nft commands; returns what nft printed, or throws with nft's own error text.</summary>
    public string Run(string commands)
    {
        var result = Proxy.nft_run_cmd_from_buffer(_handle, commands);
        // Both buffers are read after every run: reading one empties it for the next.
        var output = Proxy.nft_ctx_get_output_buffer(_handle);
        var errors = Proxy.nft_ctx_get_error_buffer(_handle);
        Ensure.NftSuccess(result, commands, errors);
        return output;
    }

    public void Dispose() => _handle.Dispose();
}
