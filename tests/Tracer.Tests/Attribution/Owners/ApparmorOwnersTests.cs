using Tracer.Attribution;
using Tracer.Kernel;
using Tracer.Records;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Attribution.Owners;

/// <summary>
/// AppArmor's denials read from its audit records, in the shapes AppArmor's audit callbacks write (kernel log and
/// auditd); AppArmor is not active on this kernel, so the records are the formats' own, not this machine's.
/// </summary>
[UnitTest]
public sealed class ApparmorOwnersTests
{
    // security/apparmor (5.x+): class="net", requested/denied.
    private const string Send =
        "audit: type=1400 audit(1733212345.120:311): apparmor=\"DENIED\" operation=\"sendmsg\" class=\"net\" profile=\"/usr/sbin/edr-agent\" " +
        "pid=4242 comm=\"edr-agent\" family=\"inet\" sock_type=\"stream\" protocol=6 requested=\"send\" denied=\"send\"";

    // auditd's log, older kernels: no class, requested_mask/denied_mask.
    private const string OlderReceive =
        "type=AVC msg=audit(1733212346.500:312): apparmor=\"DENIED\" operation=\"recvmsg\" profile=\"snap.web.daemon\" pid=77 comm=\"web\" " +
        "laddr=10.244.1.5 lport=8885 faddr=192.0.2.10 fport=40000 family=\"inet\" sock_type=\"stream\" protocol=6 requested_mask=\"receive\" denied_mask=\"receive\"";

    [Fact]
    public void NetworkDenialsAreRead_InEitherGenerationsFields()
    {
        var send = ApparmorDenial.Parse(Send)!;
        Assert.Equal(("/usr/sbin/edr-agent", "sendmsg", "send", "edr-agent", 4242), (send.Profile, send.Operation, send.Denied, send.Comm, send.Pid));
        Assert.StartsWith("apparmor=\"DENIED\"", send.Record);
        var receive = ApparmorDenial.Parse(OlderReceive)!;
        Assert.Equal(("snap.web.daemon", "recvmsg", "receive"), (receive.Profile, receive.Operation, receive.Denied));
    }

    [Theory]
    [InlineData("audit: type=1400 audit(1733212345.120:313): apparmor=\"DENIED\" operation=\"open\" class=\"file\" profile=\"/usr/sbin/cupsd\" name=\"/etc/shadow\" pid=9 comm=\"cupsd\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0")]
    [InlineData("audit: type=1400 audit(1733212345.120:314): apparmor=\"ALLOWED\" operation=\"sendmsg\" class=\"net\" profile=\"/usr/bin/nc\" pid=9 comm=\"nc\" family=\"inet\" sock_type=\"stream\" protocol=6 requested=\"send\" denied=\"send\"")]
    [InlineData("audit: type=1400 audit(1733212345.120:315): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"/usr/bin/nc\" pid=9 comm=\"apparmor_parser\"")]
    [InlineData("audit: type=1400 audit(1733212345.120:316): avc:  denied  { recv } for  saddr=192.0.2.10 src=40000 daddr=10.244.1.5 dest=8885 netif=eth0 scontext=system_u:system_r:kernel_t:s0 tcontext=system_u:object_r:unlabeled_t:s0 tclass=packet permissive=0")]
    public void FileDenials_ComplainMode_StatusAndSelinuxRecordsAreNotNetworkDenials(string record) => Assert.Null(ApparmorDenial.Parse(record));

    [Fact]
    public void TheNewestNetworkDenialNamesTheProfile_OnlyForAppArmorDrops()
    {
        var node = new NodeQueries { ActiveLsms = () => "lockdown,capability,apparmor", ApparmorDenials = () => [ApparmorDenial.Parse(OlderReceive)!, ApparmorDenial.Parse(Send)!] };
        var lsm = new Culprit { Kind = CulpritKind.Lsm, Confidence = CulpritConfidence.Inferred, Summary = "denied by a Linux Security Module hook" };

        var owner = ApparmorOwners.Of(lsm, node.ForInterval())!;
        Assert.Equal((OwnerKind.ApparmorProfile, "/usr/sbin/edr-agent", CulpritConfidence.Inferred), (owner.Kind, owner.Name, owner.Confidence));
        Assert.Contains("send (sendmsg) to edr-agent (pid 4242)", owner.Summary);
        Assert.Contains(Send[Send.IndexOf("apparmor=", StringComparison.Ordinal)..], owner.Evidence.Single());

        Assert.Null(ApparmorOwners.Of(lsm with { LsmName = CulpritLsm.Selinux }, node.ForInterval()));
        Assert.Null(ApparmorOwners.Of(lsm, new NodeQueries { ActiveLsms = () => "selinux", ApparmorDenials = node.ApparmorDenials }.ForInterval()));
        Assert.Null(ApparmorOwners.Of(lsm with { LsmName = CulpritLsm.Apparmor }, new NodeQueries { ApparmorDenials = () => [] }.ForInterval()));
    }

    [Fact]
    public void KernelLogRecordsAndAuditStampsAreRead()
    {
        Assert.Equal((5_512_345_678UL, "audit: type=1400 x"), KernelLog.KmsgRecord("6,1234,5512345678,-;audit: type=1400 x\n SUBSYSTEM=net\n"));
        Assert.Equal((7UL, "plain"), KernelLog.KmsgRecord("4,1,7,c,caller=T1;plain"));
        Assert.Null(KernelLog.KmsgRecord("no header"));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_733_212_346_500), KernelLog.AuditStamp(OlderReceive));
        Assert.Null(KernelLog.AuditStamp("type=DAEMON_START msg=nothing"));
    }
}
