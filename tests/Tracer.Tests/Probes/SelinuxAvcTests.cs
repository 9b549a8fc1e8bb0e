using System.Text;
using Tracer.Native;
using Tracer.Probes;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Probes;

/// <summary>
/// Decoding what bpf/selinux_avc.bpf.c writes, and when Tracer loads it. SELinux cannot be active on this
/// machine's kernel: the kernel matrix observes real denials; here the struct is filled as the program fills it.
/// </summary>
[UnitTest]
public sealed class SelinuxAvcTests
{
    private static unsafe avc_denial Denial(uint denied, string permission)
    {
        var denial = new avc_denial { denied = denied };
        Write(denial.scontext, AvcDenial.TRACER_SECCTX_LEN, "system_u:system_r:node_t:s0");
        Write(denial.tcontext, AvcDenial.TRACER_SECCTX_LEN, "system_u:object_r:blocked_t:s0");
        Write(denial.tclass_name, AvcDenial.TRACER_AVC_NAME_LEN, "packet");
        Write(denial.permission, AvcDenial.TRACER_AVC_NAME_LEN, permission);
        return denial;
    }

    private static unsafe void Write(sbyte* field, int capacity, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.True(bytes.Length < capacity);
        bytes.CopyTo(new Span<byte>(field, capacity));
    }

    [Fact]
    public void ADenialReadsAsTheAuditLogPrintsIt()
    {
        var denial = SelinuxDenial.From(Denial(0x2, "recv"));

        Assert.Equal("avc: denied { recv } scontext=system_u:system_r:node_t:s0 tcontext=system_u:object_r:blocked_t:s0 tclass=packet",
                     denial.ToString());
        Assert.Equal("blocked_t", SelinuxDenial.TypeOf(denial.Tcontext));
    }

    [Fact]
    public void PermissionsTheKernelCouldNotNameStayBits()
    {
        Assert.Equal("recv 0x8", SelinuxDenial.From(Denial(0x2 | 0x8, "recv")).Permissions);
        Assert.Equal("0x6", SelinuxDenial.From(Denial(0x6, "")).Permissions);
    }

    [Fact]
    public void SelinuxCountsAsActiveWhenItIsAnActiveLsmOrItsFilesystemIsThere()
    {
        var root = Directory.CreateTempSubdirectory("tracer-selinux").FullName;
        try
        {
            var (security, selinux) = (Path.Combine(root, "security"), Path.Combine(root, "selinux"));
            Directory.CreateDirectory(security);
            Directory.CreateDirectory(selinux);
            Assert.False(SelinuxAvc.IsActive(security, selinux));
            File.WriteAllText(Path.Combine(selinux, "enforce"), "1");
            Assert.True(SelinuxAvc.IsActive(security, selinux)); // securityfs not mounted: selinuxfs tells
            File.WriteAllText(Path.Combine(security, "lsm"), "lockdown,capability,landlock,bpf");
            Assert.False(SelinuxAvc.IsActive(security, selinux)); // securityfs mounted: its list decides
            File.WriteAllText(Path.Combine(security, "lsm"), "lockdown,capability,selinux,bpf");
            Assert.True(SelinuxAvc.IsActive(security, selinux));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
