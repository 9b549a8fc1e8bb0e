using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>libbpf (bpf/libbpf.h, bpf/bpf.h, bpf/btf.h).</summary>
internal static unsafe partial class Proxy
{
    public static uint libbpf_major_version() => Libbpf.libbpf_major_version();

    public static uint libbpf_minor_version() => Libbpf.libbpf_minor_version();

    public static int libbpf_num_possible_cpus() =>
        Ensure.Success(Libbpf.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");

    public static BpfObjectHandle bpf_object__open_mem(ReadOnlySpan<byte> image, string name)
    {
        fixed (byte* data = image)
        fixed (byte* objectName = Utf8(name))
        {
            var opts = new bpf_object_open_opts { sz = (nuint)sizeof(bpf_object_open_opts), object_name = (sbyte*)objectName };
            return Own<BpfObjectHandle>(Ensure.NotNull(Libbpf.bpf_object__open_mem(data, (nuint)image.Length, &opts), $"opening BPF object {name}"));
        }
    }

    public static void bpf_object__load(BpfObjectHandle obj, string name) =>
        Ensure.Success(Libbpf.bpf_object__load(obj.Object), $"loading BPF object {name}");

    public static bpf_program* bpf_object__find_program_by_name(BpfObjectHandle obj, string name)
    {
        fixed (byte* text = Utf8(name))
            return Ensure.NotNull(Libbpf.bpf_object__find_program_by_name(obj.Object, (sbyte*)text), $"finding BPF program {name}");
    }

    public static bpf_map* bpf_object__find_map_by_name(BpfObjectHandle obj, string name)
    {
        fixed (byte* text = Utf8(name))
            return Ensure.NotNull(Libbpf.bpf_object__find_map_by_name(obj.Object, (sbyte*)text), $"finding BPF map {name}");
    }

    /// <summary>The program after <paramref name="previous"/> (null: the first); null after the last.</summary>
    public static bpf_program* bpf_object__next_program(BpfObjectHandle obj, bpf_program* previous) =>
        Libbpf.bpf_object__next_program(obj.Object, previous);

    public static string bpf_program__name(bpf_program* program) =>
        Marshal.PtrToStringUTF8((nint)Libbpf.bpf_program__name(program)) ?? "";

    public static void bpf_program__set_autoload(bpf_program* program, bool autoload) =>
        Ensure.Success(Libbpf.bpf_program__set_autoload(program, autoload ? (byte)1 : (byte)0), "bpf_program__set_autoload");

    public static void bpf_program__set_type(bpf_program* program, bpf_prog_type type) =>
        Ensure.Success(Libbpf.bpf_program__set_type(program, type), "bpf_program__set_type");

    public static void bpf_program__set_expected_attach_type(bpf_program* program, bpf_attach_type type) =>
        Ensure.Success(Libbpf.bpf_program__set_expected_attach_type(program, type), "bpf_program__set_expected_attach_type");

    // Names are read before the call they describe: any later P/Invoke would overwrite its errno.

    public static int bpf_program__fd(bpf_program* program)
    {
        var name = bpf_program__name(program);
        return Ensure.Success(Libbpf.bpf_program__fd(program), $"getting the fd of BPF program {name}");
    }

    public static BpfLinkHandle bpf_program__attach(bpf_program* program)
    {
        var name = bpf_program__name(program);
        return Own<BpfLinkHandle>(Ensure.NotNull(Libbpf.bpf_program__attach(program), $"attaching BPF program {name}"));
    }

    public static void bpf_program__set_attach_target(bpf_program* program, string function)
    {
        fixed (byte* text = Utf8(function))
            Ensure.Success(Libbpf.bpf_program__set_attach_target(program, 0, (sbyte*)text), $"targeting {function}");
    }

    public static BpfLinkHandle bpf_program__attach_kprobe(bpf_program* program, bool returnProbe, string function)
    {
        fixed (byte* text = Utf8(function))
            return Own<BpfLinkHandle>(Ensure.NotNull(Libbpf.bpf_program__attach_kprobe(program, returnProbe ? (byte)1 : (byte)0, (sbyte*)text),
                                                     $"attaching a {(returnProbe ? "kretprobe" : "kprobe")} to {function}"));
    }

    public static BpfLinkHandle bpf_program__attach_cgroup(bpf_program* program, SafeFileHandle cgroup)
    {
        var name = bpf_program__name(program);
        return Own<BpfLinkHandle>(Ensure.NotNull(Libbpf.bpf_program__attach_cgroup(program, (int)cgroup.DangerousGetHandle()),
                                                 $"attaching BPF program {name} to a cgroup"));
    }

    public static int bpf_map__fd(bpf_map* map) => Ensure.Success(Libbpf.bpf_map__fd(map), "bpf_map__fd");

    public static uint bpf_map__max_entries(bpf_map* map) => Libbpf.bpf_map__max_entries(map);

    public static uint bpf_map__value_size(bpf_map* map) => Libbpf.bpf_map__value_size(map);

    public static Span<byte> bpf_map__initial_value(bpf_map* map)
    {
        nuint size;
        var data = Ensure.NotNull((byte*)Libbpf.bpf_map__initial_value(map, &size), "bpf_map__initial_value");
        return new Span<byte>(data, (int)size);
    }

    public static void bpf_map__reuse_fd(bpf_map* map, int fd) =>
        Ensure.Success(Libbpf.bpf_map__reuse_fd(map, fd), "bpf_map__reuse_fd");

    public static void bpf_map_update_elem(int fd, void* key, void* value, ulong flags) =>
        Ensure.Success(Libbpf.bpf_map_update_elem(fd, key, value, flags), "bpf_map_update_elem");

    /// <summary>Returns false when the key is absent.</summary>
    public static bool bpf_map_lookup_elem(int fd, void* key, void* value) =>
        Ensure.SuccessOr(Errno.ENOENT, Libbpf.bpf_map_lookup_elem(fd, key, value), "bpf_map_lookup_elem");

    /// <summary>Returns false when the key is absent.</summary>
    public static bool bpf_map_delete_elem(int fd, void* key) =>
        Ensure.SuccessOr(Errno.ENOENT, Libbpf.bpf_map_delete_elem(fd, key), "bpf_map_delete_elem");

    /// <summary>Returns false after the last key.</summary>
    public static bool bpf_map_get_next_key(int fd, void* key, void* nextKey) =>
        Ensure.SuccessOr(Errno.ENOENT, Libbpf.bpf_map_get_next_key(fd, key, nextKey), "bpf_map_get_next_key");

    /// <summary>
    /// Moves up to <paramref name="count"/> entries out of a hash map. Returns how many
    /// were moved and whether the map has been fully walked.
    /// </summary>
    public static (uint Count, bool Done) bpf_map_lookup_and_delete_batch(int fd, ulong* batch, void* keys, void* values, uint count)
    {
        var opts = new bpf_map_batch_opts { sz = (nuint)sizeof(bpf_map_batch_opts) };
        var result = Libbpf.bpf_map_lookup_and_delete_batch(fd, *batch == ulong.MaxValue ? null : batch, batch, keys, values, &count, &opts);
        return (count, !Ensure.SuccessOr(Errno.ENOENT, result, "bpf_map_lookup_and_delete_batch"));
    }

    /// <summary>A program's information (the fd must be a program's).</summary>
    public static bpf_prog_info bpf_obj_get_info_by_fd(int programFd)
    {
        var info = new bpf_prog_info();
        var length = (uint)sizeof(bpf_prog_info);
        Ensure.Success(Libbpf.bpf_obj_get_info_by_fd(programFd, &info, &length), "bpf_obj_get_info_by_fd");
        return info;
    }

    /// <summary>BPF_PROG_TEST_RUN: runs a program once on the given context and packet; returns its return value.</summary>
    public static uint bpf_prog_test_run_opts(int programFd, ReadOnlySpan<byte> context, ReadOnlySpan<byte> packet)
    {
        fixed (byte* ctx = context)
        fixed (byte* data = packet)
        {
            var opts = new bpf_test_run_opts
            {
                sz = (nuint)sizeof(bpf_test_run_opts),
                ctx_in = ctx,
                ctx_size_in = (uint)context.Length,
                data_in = data,
                data_size_in = (uint)packet.Length,
                repeat = 0, // once; raw_tp test runs refuse any other value
            };
            Ensure.Success(Libbpf.bpf_prog_test_run_opts(programFd, &opts), "bpf_prog_test_run_opts");
            return opts.retval;
        }
    }

    /// <summary>Ids of the programs attached to a cgroup (or other target descriptor) for one attach type.</summary>
    public static uint[] bpf_prog_query(SafeFileHandle target, bpf_attach_type type) =>
        bpf_prog_query((int)target.DangerousGetHandle(), type);

    /// <summary>Ids of the programs attached to a device (tcx: the target is an ifindex, not a descriptor).</summary>
    public static uint[] bpf_prog_query(uint ifindex, bpf_attach_type type) => bpf_prog_query((int)ifindex, type);

    private static uint[] bpf_prog_query(int target, bpf_attach_type type)
    {
        var ids = new uint[64];
        uint count = (uint)ids.Length, flags = 0;
        fixed (uint* buffer = ids)
            Ensure.Success(Libbpf.bpf_prog_query(target, type, 0, &flags, buffer, &count), "bpf_prog_query");
        return ids[..(int)count];
    }

    /// <summary>
    /// The id of the loaded program after <paramref name="startId"/>; false after the last, or when the
    /// kernel refuses the walk (unprivileged): either way there is nothing more to see.
    /// </summary>
    public static bool bpf_prog_get_next_id(uint startId, out uint nextId)
    {
        uint next;
        var found = Libbpf.bpf_prog_get_next_id(startId, &next) == 0;
        nextId = next;
        return found;
    }

    /// <summary>A descriptor of a loaded program; null if it cannot be had (unloaded since its id was read).</summary>
    public static SafeFileHandle? bpf_prog_get_fd_by_id(uint id)
    {
        var fd = Libbpf.bpf_prog_get_fd_by_id(id);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>A descriptor of the BPF object (program, link or map) pinned at <paramref name="path"/>; null if it cannot be had.</summary>
    public static SafeFileHandle? bpf_obj_get(string path)
    {
        fixed (byte* text = Utf8(path))
        {
            var fd = Libbpf.bpf_obj_get((sbyte*)text);
            return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
        }
    }

    public static RingBufferHandle ring_buffer__new(int mapFd, delegate* unmanaged<void*, void*, nuint, int> callback, void* context)
    {
        var opts = new ring_buffer_opts { sz = (nuint)sizeof(ring_buffer_opts) };
        return Own<RingBufferHandle>(Ensure.NotNull(Libbpf.ring_buffer__new(mapFd, callback, context, &opts), "ring_buffer__new"));
    }

    /// <summary>Returns the number of records consumed; an interrupted wait counts as none.</summary>
    public static int ring_buffer__poll(RingBufferHandle ring, int timeoutMs)
    {
        var result = Libbpf.ring_buffer__poll(ring.RingBuffer, timeoutMs);
        return Ensure.SuccessOr(Errno.EINTR, result, "ring_buffer__poll") ? result : 0;
    }

    public static BtfHandle btf__load_vmlinux_btf() =>
        Own<BtfHandle>(Ensure.NotNull(Libbpf.btf__load_vmlinux_btf(), "loading the kernel's BTF (/sys/kernel/btf/vmlinux)"));

    /// <summary>Returns the type id, or null when no type of that name and kind exists.</summary>
    public static uint? btf__find_by_name_kind(BtfHandle btf, string name, uint kind)
    {
        fixed (byte* text = Utf8(name))
        {
            var id = Libbpf.btf__find_by_name_kind(btf.Btf, (sbyte*)text, kind);
            return id < 0 ? null : (uint)id;
        }
    }

    public static btf_type* btf__type_by_id(BtfHandle btf, uint id) =>
        Ensure.NotNull(Libbpf.btf__type_by_id(btf.Btf, id), $"btf__type_by_id({id})");

    public static string btf__name_by_offset(BtfHandle btf, uint offset) =>
        Marshal.PtrToStringUTF8((nint)Libbpf.btf__name_by_offset(btf.Btf, offset)) ?? "";
}
