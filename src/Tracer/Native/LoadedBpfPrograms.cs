using System.Runtime.InteropServices;

namespace Tracer.Native;

/// <summary>The BPF programs loaded in the kernel by anyone, found by id.</summary>
internal static class LoadedBpfPrograms
{
    /// <summary>Every loaded program of one type: (id, name).</summary>
    public static List<(uint Id, string Name)> OfType(bpf_prog_type type)
    {
        var found = new List<(uint, string)>();
        var id = 0u;
        while (Proxy.bpf_prog_get_next_id(id, out id))
        {
            using var fd = Proxy.bpf_prog_get_fd_by_id(id);
            if (fd is null)
                continue; // unloaded meanwhile
            var info = Proxy.bpf_obj_get_info_by_fd((int)fd.DangerousGetHandle());
            if (info.type == (uint)type)
                found.Add((id, Name(info)));
        }
        return found;
    }

    /// <summary>Every loaded program: (id, name, tag as 16 hex digits, as JIT symbols carry it).</summary>
    public static unsafe List<(uint Id, string Name, string Tag)> All()
    {
        var found = new List<(uint, string, string)>();
        var id = 0u;
        while (Proxy.bpf_prog_get_next_id(id, out id))
        {
            using var fd = Proxy.bpf_prog_get_fd_by_id(id);
            if (fd is null)
                continue; // unloaded meanwhile
            var info = Proxy.bpf_obj_get_info_by_fd((int)fd.DangerousGetHandle());
            found.Add((id, Name(info), Convert.ToHexStringLower(new ReadOnlySpan<byte>(info.tag, 8))));
        }
        return found;
    }

    /// <summary>The name of a loaded program; null if it is gone.</summary>
    public static string? NameOf(uint id)
    {
        using var fd = Proxy.bpf_prog_get_fd_by_id(id);
        return fd is null ? null : Name(Proxy.bpf_obj_get_info_by_fd((int)fd.DangerousGetHandle()));
    }

    private static unsafe string Name(bpf_prog_info info) => Marshal.PtrToStringUTF8((nint)info.name) ?? "";
}
