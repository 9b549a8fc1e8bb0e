namespace Tracer.Native;

/// <summary>The running kernel's BTF (/sys/kernel/btf/vmlinux), for names that differ between kernels.</summary>
internal sealed unsafe class KernelBtf : IDisposable
{
    private readonly BtfHandle _handle;

    private KernelBtf(BtfHandle handle) => _handle = handle;

    public static KernelBtf Load() => new(Proxy.btf__load_vmlinux_btf());

    /// <summary>The enumerators of <c>enum <paramref name="name"/></c> by value, or null if the kernel has no such enum.</summary>
    public IReadOnlyDictionary<long, string>? EnumValues(string name)
    {
        var id = Proxy.btf__find_by_name_kind(_handle, name, Libbpf.BTF_KIND_ENUM)
                 ?? Proxy.btf__find_by_name_kind(_handle, name, Libbpf.BTF_KIND_ENUM64);
        if (id is null)
            return null;

        var type = Proxy.btf__type_by_id(_handle, id.Value);
        var kind = (type->info >> 24) & 0x1f;
        var count = (int)(type->info & 0xffff);
        var values = new Dictionary<long, string>(count);
        // The enumerators follow the btf_type header in memory.
        if (kind == Libbpf.BTF_KIND_ENUM)
        {
            var members = (btf_enum*)(type + 1);
            for (var i = 0; i < count; i++)
                values.TryAdd(members[i].val, Proxy.btf__name_by_offset(_handle, members[i].name_off));
        }
        else
        {
            var members = (btf_enum64*)(type + 1);
            for (var i = 0; i < count; i++)
                values.TryAdd((long)((ulong)members[i].val_hi32 << 32 | members[i].val_lo32),
                              Proxy.btf__name_by_offset(_handle, members[i].name_off));
        }
        return values;
    }

    public void Dispose() => _handle.Dispose();
}
