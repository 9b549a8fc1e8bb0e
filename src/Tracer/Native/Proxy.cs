using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tracer.Native;

/// <summary>
/// The only caller of the generated imports: marshals strings and handles, and turns
/// every failure into a <see cref="NativeException"/> through <see cref="Ensure"/>.
/// Methods keep their C names so a reader can look them up in libbpf's headers.
/// </summary>
internal static unsafe class Proxy
{
    static Proxy() => LibbpfLog.Hook();

    public static BpfObjectHandle bpf_object__open_mem(ReadOnlySpan<byte> image, string name)
    {
        var nameBytes = Utf8(name);
        fixed (byte* data = image)
        fixed (byte* objectName = nameBytes)
        {
            var opts = new bpf_object_open_opts { sz = (nuint)sizeof(bpf_object_open_opts), object_name = (sbyte*)objectName };
            var obj = Ensure.NotNull(Libbpf.bpf_object__open_mem(data, (nuint)image.Length, &opts), $"opening BPF object {name}");
            var handle = new BpfObjectHandle();
            Marshal.InitHandle(handle, (nint)obj);
            return handle;
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

    public static List<nint> bpf_object__programs(BpfObjectHandle obj)
    {
        var programs = new List<nint>();
        for (var program = Libbpf.bpf_object__next_program(obj.Object, null); program != null;
             program = Libbpf.bpf_object__next_program(obj.Object, program))
            programs.Add((nint)program);
        return programs;
    }

    public static string bpf_program__name(bpf_program* program) =>
        Marshal.PtrToStringUTF8((nint)Libbpf.bpf_program__name(program)) ?? "";

    public static void bpf_program__set_autoload(bpf_program* program, bool autoload) =>
        Ensure.Success(Libbpf.bpf_program__set_autoload(program, autoload ? (byte)1 : (byte)0), "bpf_program__set_autoload");

    public static void bpf_program__set_type(bpf_program* program, bpf_prog_type type, bpf_attach_type expectedAttach)
    {
        Ensure.Success(Libbpf.bpf_program__set_type(program, type), "bpf_program__set_type");
        Ensure.Success(Libbpf.bpf_program__set_expected_attach_type(program, expectedAttach), "bpf_program__set_expected_attach_type");
    }

    // Names are read before the call they describe: any later P/Invoke would overwrite its errno.

    public static int bpf_program__fd(bpf_program* program)
    {
        var name = bpf_program__name(program);
        return Ensure.Success(Libbpf.bpf_program__fd(program), $"getting the fd of BPF program {name}");
    }

    public static BpfLinkHandle bpf_program__attach(bpf_program* program)
    {
        var name = bpf_program__name(program);
        var link = Ensure.NotNull(Libbpf.bpf_program__attach(program), $"attaching BPF program {name}");
        var handle = new BpfLinkHandle();
        Marshal.InitHandle(handle, (nint)link);
        return handle;
    }

    public static void bpf_program__set_attach_target(bpf_program* program, string function)
    {
        fixed (byte* text = Utf8(function))
            Ensure.Success(Libbpf.bpf_program__set_attach_target(program, 0, (sbyte*)text), $"targeting {function}");
    }

    public static BpfLinkHandle bpf_program__attach_kprobe(bpf_program* program, bool returnProbe, string function)
    {
        fixed (byte* text = Utf8(function))
        {
            var link = Ensure.NotNull(Libbpf.bpf_program__attach_kprobe(program, returnProbe ? (byte)1 : (byte)0, (sbyte*)text),
                                      $"attaching a {(returnProbe ? "kretprobe" : "kprobe")} to {function}");
            var handle = new BpfLinkHandle();
            Marshal.InitHandle(handle, (nint)link);
            return handle;
        }
    }

    public static int bpf_map__fd(bpf_map* map) => Ensure.Success(Libbpf.bpf_map__fd(map), "bpf_map__fd");

    public static uint bpf_map__max_entries(bpf_map* map) => Libbpf.bpf_map__max_entries(map);

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
    public static bool bpf_map_lookup_elem(int fd, void* key, void* value)
    {
        var result = Libbpf.bpf_map_lookup_elem(fd, key, value);
        if (result == -Libc.ENOENT)
            return false;
        Ensure.Success(result, "bpf_map_lookup_elem");
        return true;
    }

    /// <summary>Returns false when the key is absent.</summary>
    public static bool bpf_map_delete_elem(int fd, void* key)
    {
        var result = Libbpf.bpf_map_delete_elem(fd, key);
        if (result == -Libc.ENOENT)
            return false;
        Ensure.Success(result, "bpf_map_delete_elem");
        return true;
    }

    /// <summary>Returns false after the last key.</summary>
    public static bool bpf_map_get_next_key(int fd, void* key, void* nextKey)
    {
        var result = Libbpf.bpf_map_get_next_key(fd, key, nextKey);
        if (result == -Libc.ENOENT)
            return false;
        Ensure.Success(result, "bpf_map_get_next_key");
        return true;
    }

    /// <summary>
    /// Moves up to <paramref name="count"/> entries out of a hash map. Returns how many
    /// were moved and whether the map has been fully walked.
    /// </summary>
    public static (uint Count, bool Done) bpf_map_lookup_and_delete_batch(int fd, ulong* batch, void* keys, void* values, uint count)
    {
        var opts = new bpf_map_batch_opts { sz = (nuint)sizeof(bpf_map_batch_opts) };
        var result = Libbpf.bpf_map_lookup_and_delete_batch(fd, *batch == ulong.MaxValue ? null : batch, batch, keys, values, &count, &opts);
        if (result == -Libc.ENOENT)
            return (count, true);
        Ensure.Success(result, "bpf_map_lookup_and_delete_batch");
        return (count, false);
    }

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

    public static RingBufferHandle ring_buffer__new(int mapFd, delegate* unmanaged<void*, void*, nuint, int> callback, void* context)
    {
        var opts = new ring_buffer_opts { sz = (nuint)sizeof(ring_buffer_opts) };
        var ring = Ensure.NotNull(Libbpf.ring_buffer__new(mapFd, callback, context, &opts), "ring_buffer__new");
        var handle = new RingBufferHandle();
        Marshal.InitHandle(handle, (nint)ring);
        return handle;
    }

    /// <summary>Returns the number of records consumed; an interrupted wait counts as none.</summary>
    public static int ring_buffer__poll(RingBufferHandle ring, int timeoutMs)
    {
        var result = Libbpf.ring_buffer__poll(ring.RingBuffer, timeoutMs);
        return result == -4 /* EINTR */ ? 0 : Ensure.Success(result, "ring_buffer__poll");
    }

    public static BtfHandle btf__load_vmlinux_btf()
    {
        var btf = Ensure.NotNull(Libbpf.btf__load_vmlinux_btf(), "loading the kernel's BTF (/sys/kernel/btf/vmlinux)");
        var handle = new BtfHandle();
        Marshal.InitHandle(handle, (nint)btf);
        return handle;
    }

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

    public static int libbpf_num_possible_cpus() =>
        Ensure.Success(Libbpf.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");

    public static Version libbpf_version() =>
        new((int)Libbpf.libbpf_major_version(), (int)Libbpf.libbpf_minor_version());

    /// <summary>bpf(BPF_LINK_CREATE) for a BPF_NETFILTER link, which libbpf 1.1 cannot build.</summary>
    public static SafeFileHandle bpf_link_create_netfilter(int programFd, uint protocolFamily, uint hook, int priority)
    {
        var attr = new bpf_netfilter_link_attr
        {
            prog_fd = (uint)programFd,
            attach_type = Libbpf.TRACER_BPF_NETFILTER,
            pf = protocolFamily,
            hooknum = hook,
            priority = priority,
        };
        var fd = Ensure.Syscall(Libc.syscall(Libc.SYS_bpf, Libbpf.BPF_LINK_CREATE, &attr, (uint)sizeof(bpf_netfilter_link_attr)),
                                $"creating a netfilter link (pf {protocolFamily}, hook {hook}, priority {priority})");
        return new SafeFileHandle((nint)fd, ownsHandle: true);
    }

    /// <summary>Opens a directory (a cgroup) for bpf calls that take its fd.</summary>
    public static SafeFileHandle open_directory(string path)
    {
        fixed (byte* text = Utf8(path))
        {
            var fd = Ensure.Syscall(Libc.open((sbyte*)text, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC), $"opening {path}");
            return new SafeFileHandle((nint)fd, ownsHandle: true);
        }
    }

    /// <summary>Ids of the programs attached to a cgroup (or other target) for one attach type.</summary>
    public static uint[] bpf_prog_query(SafeFileHandle target, bpf_attach_type type) =>
        bpf_prog_query((int)target.DangerousGetHandle(), type);

    /// <summary>Ids of the programs attached to a device (tcx: the target is an ifindex, not a descriptor).</summary>
    public static uint[] bpf_prog_query_ifindex(uint ifindex, bpf_attach_type type) => bpf_prog_query((int)ifindex, type);

    private static uint[] bpf_prog_query(int target, bpf_attach_type type)
    {
        var ids = new uint[64];
        uint count = (uint)ids.Length, flags = 0;
        fixed (uint* buffer = ids)
            Ensure.Success(Libbpf.bpf_prog_query(target, type, 0, &flags, buffer, &count), "bpf_prog_query");
        return ids[..(int)count];
    }

    /// <summary>Every loaded program of one type: (id, name).</summary>
    public static List<(uint Id, string Name)> bpf_programs_of_type(bpf_prog_type type)
    {
        var found = new List<(uint, string)>();
        uint id = 0;
        while (Libbpf.bpf_prog_get_next_id(id, &id) == 0)
        {
            var fd = Libbpf.bpf_prog_get_fd_by_id(id);
            if (fd < 0)
                continue; // unloaded meanwhile
            using var handle = new SafeFileHandle(fd, ownsHandle: true);
            var info = bpf_obj_get_info_by_fd(fd);
            if (info.type == (uint)type)
                found.Add((id, Marshal.PtrToStringUTF8((nint)info.name) ?? ""));
        }
        return found;
    }

    /// <summary>The name of a loaded program, by id; null if it is gone.</summary>
    public static string? bpf_prog_name_by_id(uint id)
    {
        var fd = Libbpf.bpf_prog_get_fd_by_id(id);
        if (fd < 0)
            return null;
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var info = bpf_obj_get_info_by_fd(fd);
        return Marshal.PtrToStringUTF8((nint)info.name);
    }

    public static BpfLinkHandle bpf_program__attach_cgroup(bpf_program* program, SafeFileHandle cgroup)
    {
        var name = bpf_program__name(program);
        var link = Ensure.NotNull(Libbpf.bpf_program__attach_cgroup(program, (int)cgroup.DangerousGetHandle()), $"attaching BPF program {name} to a cgroup");
        var handle = new BpfLinkHandle();
        Marshal.InitHandle(handle, (nint)link);
        return handle;
    }

    public static void setns(SafeFileHandle namespaceFd, int type) =>
        Ensure.Syscall(Libc.setns((int)namespaceFd.DangerousGetHandle(), type), "setns");

    public static void unshare(int flags) => Ensure.Syscall(Libc.unshare(flags), "unshare");

    public static ulong clock_gettime_ns(int clock)
    {
        timespec time;
        Ensure.Syscall(Libc.clock_gettime(clock, &time), "clock_gettime");
        return (ulong)time.tv_sec * 1_000_000_000UL + (ulong)time.tv_nsec;
    }

    public static NftContextHandle nft_ctx_new()
    {
        var context = Ensure.NotNull(Nftables.nft_ctx_new((uint)Nftables.NFT_CTX_DEFAULT), "nft_ctx_new");
        var handle = new NftContextHandle();
        Marshal.InitHandle(handle, (nint)context);
        Nftables.nft_ctx_buffer_output(context);
        Nftables.nft_ctx_buffer_error(context);
        // Handles identify rules; stateless leaves counter values out of rule texts.
        Nftables.nft_ctx_output_set_flags(context, (uint)(Nftables.NFT_CTX_OUTPUT_HANDLE | Nftables.NFT_CTX_OUTPUT_STATELESS));
        return handle;
    }

    /// <summary>Runs nft commands; returns what nft printed, or throws with nft's own error text.</summary>
    public static string nft_run_cmd_from_buffer(NftContextHandle context, string commands)
    {
        fixed (byte* text = Utf8(commands))
        {
            var result = Nftables.nft_run_cmd_from_buffer(context.Context, (sbyte*)text);
            var output = Marshal.PtrToStringUTF8((nint)Nftables.nft_ctx_get_output_buffer(context.Context)) ?? "";
            var error = Marshal.PtrToStringUTF8((nint)Nftables.nft_ctx_get_error_buffer(context.Context)) ?? "";
            if (result != 0)
                throw new NativeException($"nft {commands.Split('\n')[0]}", 0, error.Trim(), []);
            return output;
        }
    }

    public static MnlSocketHandle mnl_socket_open(int bus)
    {
        var socket = Ensure.NotNull(Mnl.mnl_socket_open(bus), "mnl_socket_open");
        var handle = new MnlSocketHandle();
        Marshal.InitHandle(handle, (nint)socket);
        Ensure.Syscall(Mnl.mnl_socket_bind(socket, 0, Mnl.MNL_SOCKET_AUTOPID), "mnl_socket_bind");
        return handle;
    }

    public static void mnl_socket_join_group(MnlSocketHandle socket, int group) =>
        Ensure.Syscall(Mnl.mnl_socket_setsockopt(socket.Socket, Mnl.NETLINK_ADD_MEMBERSHIP, &group, sizeof(int)), "joining a netlink group");

    /// <summary>Makes receives return after <paramref name="timeout"/> without data.</summary>
    public static void setsockopt_receive_timeout(MnlSocketHandle socket, TimeSpan timeout)
    {
        var value = new timeval { tv_sec = (nint)timeout.TotalSeconds, tv_usec = (nint)(timeout.TotalMicroseconds % 1_000_000) };
        Ensure.Syscall(Libc.setsockopt(Mnl.mnl_socket_get_fd(socket.Socket), Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &value, (uint)sizeof(timeval)), "setsockopt(SO_RCVTIMEO)");
    }

    /// <summary>Raises the receive buffer past rmem_max (needs CAP_NET_ADMIN): bursts of events must not overflow it.</summary>
    public static void setsockopt_receive_buffer(MnlSocketHandle socket, int bytes) =>
        Ensure.Syscall(Libc.setsockopt(Mnl.mnl_socket_get_fd(socket.Socket), Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &bytes, sizeof(int)), "setsockopt(SO_RCVBUFFORCE)");

    /// <summary>Receives one datagram; 0 when the timeout passed without one.</summary>
    public static int mnl_socket_recvfrom(MnlSocketHandle socket, Span<byte> buffer)
    {
        fixed (byte* data = buffer)
        {
            var received = Mnl.mnl_socket_recvfrom(socket.Socket, data, (nuint)buffer.Length);
            if (received < 0 && Marshal.GetLastPInvokeError() is Libc.EAGAIN or 105 /* ENOBUFS: events were lost, go on */)
                return 0;
            return (int)Ensure.Syscall(received, "mnl_socket_recvfrom");
        }
    }

    /// <summary>Calls <paramref name="callback"/> for each netlink message in <paramref name="buffer"/>.</summary>
    public static void mnl_cb_run(ReadOnlySpan<byte> buffer, delegate* unmanaged<nlmsghdr*, void*, int> callback, void* context)
    {
        fixed (byte* data = buffer)
            Mnl.mnl_cb_run(data, (nuint)buffer.Length, 0, 0, callback, context);
    }

    /// <summary>Decodes one nftables trace event; null when the message is not one.</summary>
    public static NftnlTrace? nftnl_trace_nlmsg_parse(nlmsghdr* message)
    {
        var trace = Nftnl.nftnl_trace_alloc();
        if (trace == null)
            return null;
        try
        {
            if (Nftnl.nftnl_trace_nlmsg_parse(message, trace) < 0)
                return null;
            bool IsSet(nftnl_trace_attr a) => Nftnl.nftnl_trace_is_set(trace, (ushort)a) != 0;
            uint U32(nftnl_trace_attr a) => IsSet(a) ? Nftnl.nftnl_trace_get_u32(trace, (ushort)a) : uint.MaxValue;
            string Str(nftnl_trace_attr a) => IsSet(a) ? Marshal.PtrToStringUTF8((nint)Nftnl.nftnl_trace_get_str(trace, (ushort)a)) ?? "" : "";
            byte[] Data(nftnl_trace_attr a)
            {
                uint length = 0;
                var data = IsSet(a) ? Nftnl.nftnl_trace_get_data(trace, (ushort)a, &length) : null;
                return data == null ? [] : new ReadOnlySpan<byte>(data, (int)length).ToArray();
            }
            return new NftnlTrace(
                U32(nftnl_trace_attr.NFTNL_TRACE_ID),
                U32(nftnl_trace_attr.NFTNL_TRACE_TYPE),
                (int)U32(nftnl_trace_attr.NFTNL_TRACE_VERDICT),
                (int)U32(nftnl_trace_attr.NFTNL_TRACE_POLICY),
                U32(nftnl_trace_attr.NFTNL_TRACE_FAMILY),
                Str(nftnl_trace_attr.NFTNL_TRACE_TABLE),
                Str(nftnl_trace_attr.NFTNL_TRACE_CHAIN),
                IsSet(nftnl_trace_attr.NFTNL_TRACE_RULE_HANDLE) ? (ulong)Nftnl.nftnl_trace_get_u64(trace, (ushort)nftnl_trace_attr.NFTNL_TRACE_RULE_HANDLE) : null,
                Data(nftnl_trace_attr.NFTNL_TRACE_NETWORK_HEADER),
                Data(nftnl_trace_attr.NFTNL_TRACE_TRANSPORT_HEADER));
        }
        finally
        {
            Nftnl.nftnl_trace_free(trace);
        }
    }

    private static byte[] Utf8(string text) => System.Text.Encoding.UTF8.GetBytes(text + '\0');
}

/// <summary>One nftables trace event, copied out of libnftnl; unset numbers are -1 / uint.MaxValue.</summary>
internal sealed record NftnlTrace(uint Id, uint Type, int Verdict, int Policy, uint Family, string Table, string Chain, ulong? RuleHandle, byte[] NetworkHeader, byte[] TransportHeader);
