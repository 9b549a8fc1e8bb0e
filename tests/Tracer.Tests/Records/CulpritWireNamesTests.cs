using System.Net;
using System.Text.Json;
using Tracer.Diagnosis;
using Tracer.Native;
using Tracer.Output;
using Tracer.Probes;
using Tracer.Records;
using Tracer.Telemetry;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.Records;

/// <summary>Culprit kinds, confidences, attach types and LSMs have one wire name each, and every output writes them alike.</summary>
[UnitTest]
public sealed class CulpritWireNamesTests
{
    [Fact]
    public void EveryValueHasItsOwnName()
    {
        Assert.Equal(["nftables-rule", "nftables-policy", "iptables-rule", "netfilter-hook", "bpf-program", "lsm", "kernel-module", "kernel-stack", "unknown"],
                     Enum.GetValues<CulpritKind>().Select(k => k.WireName()));
        Assert.Equal(["exact", "bracketed", "inferred"], Enum.GetValues<CulpritConfidence>().Select(c => c.WireName()));
        Assert.Equal(["netfilter", "tc", "tcx", "xdp", "cgroup_skb", "lsm"], Enum.GetValues<CulpritAttach>().Select(a => a.WireName()));
        Assert.Equal(["selinux", "apparmor", "bpf"], Enum.GetValues<CulpritLsm>().Select(l => l.WireName()));
    }

    [Fact]
    public void JsonLinesDiagnoseAndOpenTelemetry_NameTheCulpritAlike()
    {
        var (kinds, confidences) = (Enum.GetValues<CulpritKind>(), Enum.GetValues<CulpritConfidence>());
        var (attaches, lsms) = (Enum.GetValues<CulpritAttach>(), Enum.GetValues<CulpritLsm>());
        for (var i = 0; i < new[] { kinds.Length, confidences.Length, attaches.Length, lsms.Length }.Max(); i++)
            AssertNamedAlike(new Culprit
            {
                Kind = kinds[i % kinds.Length], Confidence = confidences[i % confidences.Length], Summary = "dropped",
                Attach = attaches[i % attaches.Length], LsmName = lsms[i % lsms.Length],
            });
    }

    private static void AssertNamedAlike(Culprit culprit)
    {
        using var stream = new MemoryStream();
        using (var output = new JsonLinesOutput(stream))
            output.Write([new DropRecord(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch,
                new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("10.244.0.5"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, 40000, 8885, 7, 0),
                "NETFILTER_DROP", "nf_hook_slow", 1, 60, null, culprit)]);
        var line = JsonDocument.Parse(stream.ToArray()).RootElement.GetProperty("culprit");
        var diagnoseJson = JsonSerializer.Serialize(culprit, DiagnosisJson.Default.Culprit);
        var diagnose = JsonDocument.Parse(diagnoseJson).RootElement;
        var otel = TelemetryOutput.CulpritAttributes(culprit).ToDictionary(a => a.Key, a => a.Value);

        foreach (var (field, expected) in new[]
                 {
                     ("kind", culprit.Kind.WireName()), ("confidence", culprit.Confidence.WireName()),
                     ("attach", culprit.Attach!.Value.WireName()), ("lsm", culprit.LsmName!.Value.WireName()),
                 })
        {
            Assert.Equal(expected, line.GetProperty(field).GetString());
            Assert.Equal(expected, diagnose.GetProperty(field).GetString());
            Assert.Equal(expected, otel[$"tracer.culprit.{field}"]);
        }
        var read = JsonSerializer.Deserialize(diagnoseJson, DiagnosisJson.Default.Culprit)!;
        Assert.Equal((culprit.Kind, culprit.Confidence, culprit.Attach, culprit.LsmName), (read.Kind, read.Confidence, read.Attach, read.LsmName));
    }
}
