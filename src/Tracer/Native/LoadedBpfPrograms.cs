using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>The BPF programs loaded in the kernel by anyone, found by id.</summary>
internal static class LoadedBpfPrograms
{
    /// <summary>Every loaded program of one type: (id, name).</summary>
    public static List<(uint Id, string Name)> OfType(bpf_prog_type type) =>
        [.. Each().Where(p => p.Info.type == (uint)type).Select(p => (p.Id, Name(p.Info)))];

    /// <summary>Every loaded program: (id, name, tag as 16 hex digits, as JIT symbols carry it).</summary>
    public static unsafe List<(uint Id, string Name, string Tag)> All() =>
        [.. Each().Select(p => (p.Id, Name(p.Info), Convert.ToHexStringLower(new ReadOnlySpan<byte>(p.Info.tag, 8))))];

    /// <summary>Each loaded program's id and info; one unloaded meanwhile is skipped.</summary>
    private static IEnumerable<(uint Id, bpf_prog_info Info)> Each()
    {
        var id = 0u;
        while (Proxy.bpf_prog_get_next_id(id, out id))
        {
            using var fd = Proxy.bpf_prog_get_fd_by_id(id);
            if (fd is not null)
                yield return (id, Proxy.bpf_obj_get_info_by_fd((int)fd.DangerousGetHandle()));
        }
    }

    /// <summary>The name of a loaded program; null if it is gone.</summary>
    public static string? NameOf(uint id)
    {
        using var fd = Proxy.bpf_prog_get_fd_by_id(id);
        return fd is null ? null : Name(Proxy.bpf_obj_get_info_by_fd((int)fd.DangerousGetHandle()));
    }

    private static unsafe string Name(bpf_prog_info info) => Marshal.PtrToStringUTF8((nint)info.name) ?? "";
}
