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
        Assert.Equal(["service", "kube-proxy", "network-policy", "calico-policy", "calico-global-policy", "calico-profile", "process", "pinned-program", "calico-dataplane",
                      "kernel-module", "apparmor-profile"], Enum.GetValues<OwnerKind>().Select(k => k.WireName()));
    }

    [Fact]
    public void JsonLinesDiagnoseAndOpenTelemetry_WriteTheOwnerAlike()
    {
        var culprit = new Culprit
        {
            Kind = CulpritKind.BpfProgram, Confidence = CulpritConfidence.Bracketed, Summary = "dropped by BPF netfilter program edr_drop", ProgramId = 7,
            Owner = new CulpritOwner
            {
                Kind = OwnerKind.Process, Name = "/usr/sbin/edr-agent", Summary = "held by process edr-agent (pid 4242)", Confidence = CulpritConfidence.Exact,
                Evidence = ["/proc/4242/fdinfo/7: prog_id 7"],
                Processes = [new OwnerProcess(4242, "edr-agent", "/usr/sbin/edr-agent", "edr-agent --strict", "/system.slice/edr.service") { ContainerId = "c0ffee" }],
                Package = new OwnerPackage("dpkg", "edr-agent", "7.1.3"),
                Module = new ModuleFacts { Path = "/lib/modules/x/extra/edr_agent.ko", SrcVersion = "ABC", Taints = ["out-of-tree", "unsigned"] },
            },
        };
        var (line, diagnose) = (JsonLine(culprit).GetProperty("owner"), JsonDocument.Parse(JsonSerializer.Serialize(culprit, DiagnosisJson.Default.Culprit)).RootElement.GetProperty("owner"));
        Assert.True(JsonElement.DeepEquals(line, diagnose), $"{line} != {diagnose}");
        Assert.Equal("process", line.GetProperty("kind").GetString());
        Assert.Equal(4242, line.GetProperty("processes")[0].GetProperty("pid").GetInt32());
        Assert.Equal("c0ffee", line.GetProperty("processes")[0].GetProperty("container_id").GetString());
        Assert.Equal("ABC", line.GetProperty("module").GetProperty("srcversion").GetString());
        Assert.False(line.TryGetProperty("pod", out _)); // unknown fields are left out, not null

        var otel = TelemetryOutput.CulpritAttributes(culprit).Where(a => a.Value is not null).ToDictionary(a => a.Key, a => a.Value);
        Assert.Equal("process", otel["tracer.culprit.owner.kind"]);
        Assert.Equal(line.GetProperty("name").GetString(), otel["tracer.culprit.owner.name"]);
        Assert.Equal(4242L, otel["tracer.culprit.owner.process.pid"]);
        Assert.Equal("edr-agent 7.1.3", otel["tracer.culprit.owner.package"]);
        Assert.Equal(new[] { "out-of-tree", "unsigned" }, (string[])otel["tracer.culprit.owner.module.taints"]!);
        Assert.False(otel.ContainsKey("tracer.culprit.owner.pod"));
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

    private static JsonElement JsonLine(Culprit culprit)
    {
        using var stream = new MemoryStream();
        using (var output = new JsonLinesOutput(stream))
            output.Write([new DropRecord(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch,
                new DropFlow(1, 2, IPAddress.Parse("192.0.2.1"), IPAddress.Parse("10.244.0.5"), (ushort)EtherType.ETH_P_IP, (byte)IpProto.IPPROTO_UDP, 40000, 8885, 7, 0),
                "NETFILTER_DROP", "nf_hook_slow", 1, 60, null, culprit)]);
        return JsonDocument.Parse(stream.ToArray()).RootElement.GetProperty("culprit").Clone();
    }

    private static void AssertNamedAlike(Culprit culprit)
    {
        var line = JsonLine(culprit);
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
