using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>A BPF ELF object opened from memory: its programs and maps live as long as it does.</summary>
internal sealed unsafe class BpfObject : IDisposable
{
    private readonly BpfObjectHandle _handle;

    private BpfObject(BpfObjectHandle handle, string name)
    {
        _handle = handle;
        Name = name;
    }

    public string Name { get; }

    public static BpfObject Open(ReadOnlySpan<byte> image, string name) => new(Proxy.bpf_object__open_mem(image, name), name);

    public BpfProgram Program(string name) => new(Proxy.bpf_object__find_program_by_name(_handle, name));

    public IEnumerable<BpfProgram> Programs
    {
        get
        {
            var programs = new List<BpfProgram>();
            for (var program = Proxy.bpf_object__next_program(_handle, null); program != null;
                 program = Proxy.bpf_object__next_program(_handle, program))
                programs.Add(new BpfProgram(program));
            return programs;
        }
    }

    public BpfMap Map(string name) => new(Proxy.bpf_object__find_map_by_name(_handle, name), name);

    /// <summary>A map's size as the object declares it; readable before <see cref="Load"/>.</summary>
    public uint MaxEntries(string map) => Proxy.bpf_map__max_entries(Proxy.bpf_object__find_map_by_name(_handle, map));

    /// <summary>Writes a load-time constant section (a <c>.rodata.*</c> map) before <see cref="Load"/>.</summary>
    public void SetReadOnlyData<T>(string section, in T value) where T : unmanaged
    {
        var data = Proxy.bpf_map__initial_value(Proxy.bpf_object__find_map_by_name(_handle, section));
        if (data.Length < sizeof(T))
            throw new InvalidOperationException($"{section} holds {data.Length} bytes, {typeof(T).Name} needs {sizeof(T)}");
        MemoryMarshal.Write(data, in value);
    }

    /// <summary>Before <see cref="Load"/>: use another object's map instead of creating this one's.</summary>
    public void ShareMap(string name, BpfMap existing) =>
        Proxy.bpf_map__reuse_fd(Proxy.bpf_object__find_map_by_name(_handle, name), existing.Fd);

    public void Load() => Proxy.bpf_object__load(_handle, Name);

    public void Dispose() => _handle.Dispose();
}

/// <summary>A program of a <see cref="BpfObject"/>; valid while the object is open.</summary>
internal sealed unsafe class BpfProgram
{
    private readonly bpf_program* _program;

    internal BpfProgram(bpf_program* program) => _program = program;

    public string Name => Proxy.bpf_program__name(_program);

    public int Fd => Proxy.bpf_program__fd(_program);

    /// <summary>Runs the program once in the calling thread's network namespace (BPF_PROG_TEST_RUN).</summary>
    public uint TestRun(ReadOnlySpan<byte> context, ReadOnlySpan<byte> packet) => Proxy.bpf_prog_test_run_opts(Fd, context, packet);

    /// <summary>Runs the kernel skipped because the program was already running on that CPU.</summary>
    public ulong RecursionMisses => Proxy.bpf_obj_get_info_by_fd(Fd).recursion_misses;

    public bool Autoload
    {
        set => Proxy.bpf_program__set_autoload(_program, value);
    }

    /// <summary>For section names libbpf 1.1 does not know, such as <c>netfilter</c>.</summary>
    public void SetType(bpf_prog_type type, bpf_attach_type expectedAttach)
    {
        Proxy.bpf_program__set_type(_program, type);
        Proxy.bpf_program__set_expected_attach_type(_program, expectedAttach);
    }

    /// <summary>Attaches as the program's section name says; disposing the link detaches it.</summary>
    public BpfLink Attach()
    {
        return new BpfLink(Proxy.bpf_program__attach(_program));
    }

    /// <summary>Before load: the kernel function an fentry/fexit program traces.</summary>
    public void SetAttachTarget(string function) => Proxy.bpf_program__set_attach_target(_program, function);

    /// <summary>Attaches a kprobe (or kretprobe) program to a kernel function.</summary>
    public BpfLink AttachKprobe(string function, bool returnProbe) => new(Proxy.bpf_program__attach_kprobe(_program, returnProbe, function));

    /// <summary>Attaches a cgroup program to the cgroup directory <paramref name="cgroup"/>.</summary>
    public BpfLink AttachCgroup(SafeFileHandle cgroup) => new(Proxy.bpf_program__attach_cgroup(_program, cgroup));

    /// <summary>
    /// Attaches a netfilter program to a hook of the calling thread's network namespace, with the raw
    /// bpf(BPF_LINK_CREATE): libbpf 1.1 cannot build a netfilter link.
    /// </summary>
    public BpfLink AttachNetfilter(uint protocolFamily, uint hook, int priority)
    {
        var attr = new bpf_netfilter_link_attr
        {
            prog_fd = (uint)Fd,
            attach_type = Libbpf.TRACER_BPF_NETFILTER,
            pf = protocolFamily,
            hooknum = hook,
            priority = priority,
        };
        return new(Proxy.bpf(Libbpf.BPF_LINK_CREATE, attr,
                             $"creating a netfilter link (pf {protocolFamily}, hook {hook}, priority {priority})"));
    }
}

/// <summary>An attached program (a libbpf link or a raw link fd). Dispose to detach.</summary>
internal sealed class BpfLink(SafeHandle handle) : IDisposable
{
    public void Dispose() => handle.Dispose();
}

/// <summary>A map of a <see cref="BpfObject"/>, accessed through its fd; valid while the object is open.</summary>
internal sealed unsafe class BpfMap
{
    internal BpfMap(bpf_map* map, string name)
    {
        Name = name;
        Fd = Proxy.bpf_map__fd(map);
        MaxEntries = Proxy.bpf_map__max_entries(map);
        ValueSize = Proxy.bpf_map__value_size(map);
    }

    public string Name { get; }

    /// <summary>The map's size as the object declares it: what user-space buffers are sized by.</summary>
    public uint MaxEntries { get; }

    /// <summary>A value's size in bytes as the object declares it (for a per-CPU map: one CPU's).</summary>
    public uint ValueSize { get; }

    public int Fd { get; }

    public void Update<TKey, TValue>(in TKey key, in TValue value, ulong flags = (ulong)Libbpf.BPF_ANY)
        where TKey : unmanaged where TValue : unmanaged
    {
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
            Proxy.bpf_map_update_elem(Fd, k, v, flags);
    }

    /// <summary>Points slot <paramref name="index"/> of an array-of-maps at <paramref name="inner"/>; waits for an RCU grace period.</summary>
    public void SetInnerMap(uint index, BpfMap inner)
    {
        var fd = inner.Fd;
        Proxy.bpf_map_update_elem(Fd, &index, &fd, (ulong)Libbpf.BPF_ANY);
    }

    /// <summary>Every key, read with bpf_map_get_next_key (a snapshot of a map others may be changing).</summary>
    public List<TKey> Keys<TKey>() where TKey : unmanaged
    {
        var keys = new List<TKey>();
        TKey current = default, next = default;
        var more = Proxy.bpf_map_get_next_key(Fd, null, &next);
        while (more)
        {
            keys.Add(next);
            current = next;
            more = Proxy.bpf_map_get_next_key(Fd, &current, &next);
        }
        return keys;
    }

    public bool Lookup<TKey, TValue>(in TKey key, out TValue value) where TKey : unmanaged where TValue : unmanaged
    {
        value = default;
        fixed (TKey* k = &key)
        fixed (TValue* v = &value)
            return Proxy.bpf_map_lookup_elem(Fd, k, v);
    }

    public bool Delete<TKey>(in TKey key) where TKey : unmanaged
    {
        fixed (TKey* k = &key)
            return Proxy.bpf_map_delete_elem(Fd, k);
    }

    /// <summary>Reads a per-CPU value: one <typeparamref name="TValue"/> per possible CPU.</summary>
    public bool LookupPerCpu<TKey, TValue>(in TKey key, Span<TValue> values) where TKey : unmanaged where TValue : unmanaged
    {
        fixed (TKey* k = &key)
        fixed (TValue* v = values)
            return Proxy.bpf_map_lookup_elem(Fd, k, v);
    }

    /// <summary>Writes a per-CPU value: one <typeparamref name="TValue"/> per possible CPU.</summary>
    public void UpdatePerCpu<TKey, TValue>(in TKey key, ReadOnlySpan<TValue> values) where TKey : unmanaged where TValue : unmanaged
    {
        fixed (TKey* k = &key)
        fixed (TValue* v = values)
            Proxy.bpf_map_update_elem(Fd, k, v, (ulong)Libbpf.BPF_ANY);
    }

    public bool Lookup<TKey>(in TKey key, Span<byte> value) where TKey : unmanaged
    {
        fixed (TKey* k = &key)
        fixed (byte* v = value)
            return Proxy.bpf_map_lookup_elem(Fd, k, v);
    }

    /// <summary>
    /// Moves every entry out of a (per-CPU) hash map in batches of up to <c>keys.Length</c>.
    /// <paramref name="values"/> holds <c>keys.Length</c> times the values per key (the possible-CPU
    /// count for per-CPU maps); <paramref name="onBatch"/> is told how many keys each batch filled.
    /// </summary>
    public void DrainBatch<TKey, TValue>(TKey[] keys, TValue[] values, Action<int> onBatch)
        where TKey : unmanaged where TValue : unmanaged
    {
        ulong batch = ulong.MaxValue;
        fixed (TKey* k = keys)
        fixed (TValue* v = values)
        {
            while (true)
            {
                var (count, done) = Proxy.bpf_map_lookup_and_delete_batch(Fd, &batch, k, v, (uint)keys.Length);
                if (count > 0)
                    onBatch((int)count);
                if (done)
                    return;
            }
        }
    }
}
