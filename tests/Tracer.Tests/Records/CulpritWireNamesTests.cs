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

/// <summary>Culprit kinds and confidences have one wire name each, and every output writes the culprit's fields alike.</summary>
[UnitTest]
public sealed class CulpritWireNamesTests
{
    [Fact]
    public void EveryKindAndConfidenceHasItsOwnName()
    {
        Assert.Equal(["nftables-rule", "nftables-policy", "iptables-rule", "netfilter-hook", "bpf-program", "lsm", "kernel-module", "kernel-stack", "unknown"],
                     Enum.GetValues<CulpritKind>().Select(k => k.WireName()));
        Assert.Equal(["exact", "bracketed", "inferred"], Enum.GetValues<CulpritConfidence>().Select(c => c.WireName()));
    }

    [Fact]
    public void JsonLinesDiagnoseAndOpenTelemetry_NameTheCulpritAlike()
    {
        foreach (var kind in Enum.GetValues<CulpritKind>())
        foreach (var confidence in Enum.GetValues<CulpritConfidence>())
            AssertNamedAlike(kind, confidence);
    }

    private static void AssertNamedAlike(CulpritKind kind, CulpritConfidence confidence)
    {
        var culprit = new Culprit { Kind = kind, Confidence = confidence, Summary = "dropped", LsmName = "selinux" };

        using var stream = new MemoryStream();
        using (var output = new JsonLinesOutput(stream))
            output.Write([new DropRecord(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch,
                new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("10.244.0.5"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, 40000, 8885, 7, 0),
                "NETFILTER_DROP", "nf_hook_slow", 1, 60, null, culprit)]);
        var line = JsonDocument.Parse(stream.ToArray()).RootElement.GetProperty("culprit");
        var diagnoseJson = JsonSerializer.Serialize(culprit, DiagnosisJson.Default.Culprit);
        var diagnose = JsonDocument.Parse(diagnoseJson).RootElement;
        var otel = TelemetryOutput.CulpritAttributes(culprit).ToDictionary(a => a.Key, a => a.Value);

        foreach (var (field, expected) in new[] { ("kind", kind.WireName()), ("confidence", confidence.WireName()), ("lsm", "selinux") })
        {
            Assert.Equal(expected, line.GetProperty(field).GetString());
            Assert.Equal(expected, diagnose.GetProperty(field).GetString());
            Assert.Equal(expected, otel[$"tracer.culprit.{field}"]);
        }
        Assert.Equal((kind, confidence), JsonSerializer.Deserialize(diagnoseJson, DiagnosisJson.Default.Culprit) is { } read ? (read.Kind, read.Confidence) : default);
    }
}
