using System.Numerics;
using System.Text;
using Tracer.Kernel;
using Tracer.Native;

namespace Tracer.Probes;

/// <summary>
/// User-space half of bpf/selinux_avc.bpf.c: where SELinux is active, its enforced denials are noted per
/// CPU in the drop probe's <c>avc_last</c> map, and the drop probe takes each into the sample of the drop
/// it causes (<see cref="SelinuxDenial"/>). The raw tracepoint link is owned by this process.
/// </summary>
internal sealed class SelinuxAvc : IProbe
{
    private readonly BpfObject _object;
    private BpfLink? _link;

    private SelinuxAvc(BpfObject obj, bool namesPermissions)
    {
        _object = obj;
        NamesPermissions = namesPermissions;
    }

    /// <summary>Whether permissions are named (the kernel's class map was found in kallsyms), or only their bits.</summary>
    public bool NamesPermissions { get; }

    /// <summary>
    /// SELinux is one of the active LSMs (securityfs), or its filesystem is there when securityfs is not mounted.
    /// Without a loaded policy it denies nothing, and the program then never runs.
    /// </summary>
    public static bool IsActive(string securityFs = "/sys/kernel/security", string selinuxFs = "/sys/fs/selinux")
    {
        var lsms = Path.Combine(securityFs, "lsm");
        return File.Exists(lsms)
            ? File.ReadAllText(lsms).Split(',', StringSplitOptions.TrimEntries).Contains("selinux")
            : File.Exists(Path.Combine(selinuxFs, "enforce"));
    }

    /// <summary>Loads the denial observer, writing into the drop probe's <paramref name="avcLast"/>.</summary>
    public static SelinuxAvc Load(BpfMap avcLast)
    {
        var classMap = KernelSymbols.DataAddress("secclass_map");
        return EmbeddedObjects.Load(SelinuxAvcObject.File, obj =>
        {
            obj.SetReadOnlyData(SelinuxAvcObject.Maps.rodata_config, new avc_config { secclass_map = classMap });
            obj.ShareMap(SelinuxAvcObject.Maps.avc_last, avcLast);
        }, obj => new SelinuxAvc(obj, classMap != 0));
    }

    public void Attach() => _link = _object.Program(SelinuxAvcObject.Programs.avc_audited).Attach();

    public void Dispose()
    {
        _link?.Dispose();
        _link = null;
        _object.Dispose();
    }
}

/// <summary>An enforced SELinux denial, as the access vector cache audited it just before a drop on the same CPU.</summary>
/// <param name="Permissions">The denied permissions: the kernel's name of the lowest, and the remaining bits if there are more.</param>
internal sealed record SelinuxDenial(string Scontext, string Tcontext, string Tclass, string Permissions)
{
    public static unsafe SelinuxDenial From(in avc_denial denial)
    {
        fixed (avc_denial* d = &denial)
        {
            var first = Text(d->permission, AvcDenial.TRACER_AVC_NAME_LEN);
            var others = first.Length == 0 ? denial.denied : denial.denied & ~(1u << BitOperations.TrailingZeroCount(denial.denied));
            var permissions = others == 0 ? first : $"{first} 0x{others:x}".TrimStart();
            return new SelinuxDenial(Text(d->scontext, AvcDenial.TRACER_SECCTX_LEN), Text(d->tcontext, AvcDenial.TRACER_SECCTX_LEN),
                                     Text(d->tclass_name, AvcDenial.TRACER_AVC_NAME_LEN), permissions);
        }
    }

    private static unsafe string Text(sbyte* bytes, int capacity)
    {
        var span = new ReadOnlySpan<byte>(bytes, capacity);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }

    /// <summary>As the audit log prints it: <c>avc: denied { recv } scontext=… tcontext=… tclass=packet</c>.</summary>
    public override string ToString() => $"avc: denied {{ {Permissions} }} scontext={Scontext} tcontext={Tcontext} tclass={Tclass}";

    /// <summary>The type field of a context (<c>user:role:type:level</c>), for a policy query.</summary>
    public static string TypeOf(string context) => context.Split(':') is { Length: >= 3 } fields ? fields[2] : context;
}
