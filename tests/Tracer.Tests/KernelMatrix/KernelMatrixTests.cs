using System.Text.Json;
using Tracer.Tests.Infrastructure;

namespace Tracer.Tests.KernelMatrix;

/// <summary>
/// Tracer on Debian's 5.10, 6.1 and 6.12 cloud kernels, booted in QEMU by tests/kernel-matrix: the
/// same scenarios on each (guest/scenarios.sh), with what this machine's kernel cannot do — an
/// out-of-tree module dropping packets, kprobes, BPF-LSM — done for real inside the guests.
/// </summary>
[MatrixTest]
public sealed class KernelMatrixTests(KernelMatrixResults matrix) : IClassFixture<KernelMatrixResults>
{
    public static TheoryData<string> Suites => [.. KernelMatrixResults.Suites];

    [Theory, MemberData(nameof(Suites))]
    public void TheGuestBootsAndRunsEveryScenario(string suite)
    {
        var guest = Completed(suite);
        Assert.Equal(guest.Kernel, guest.Done!.Value.GetProperty("kernel").GetString());
        Assert.Equal(guest.Kernel, guest.Doctor.GetProperty("kernel").GetString());
        foreach (var scenario in new[] { "no-socket", "nft-rule", "nft-policy", "edr-module", "edr-module-btf", "bpf-lsm" })
        {
            var status = guest.Status(scenario);
            Assert.True(status.Str("setup") == "ok", $"{suite} {scenario}: {status.Str("setup")}");
            Assert.True(status.Num("tracer_exit") == 0, $"{suite} {scenario}: tracer exited {status.Num("tracer_exit")}: {status.Str("stderr")}");
        }
    }

    [Theory, MemberData(nameof(Suites))]
    public void AnNftablesRuleIsNamedExactly(string suite)
    {
        var guest = Completed(suite);
        var drops = guest.Records("nft-rule").Where(r => r.Num("dport") == 8887).ToList();
        Assert.Equal(20, guest.Status("nft-rule").Num("refused"));
        AssertCounts(guest, "nft-rule", (20, drops));
        Assert.All(drops, r =>
        {
            var culprit = r.Culprit();
            Assert.Equal("nftables-rule", culprit.Str("kind"));
            Assert.Equal("exact", culprit.Str("confidence"));
            Assert.Equal("matrix", culprit.Str("table"));
            Assert.Equal("out", culprit.Str("chain"));
            Assert.Contains("udp dport 8887", culprit.Str("rule"));
        });
    }

    [Theory, MemberData(nameof(Suites))]
    public void AChainPolicyIsNamedAsThePolicy(string suite)
    {
        var guest = Completed(suite);
        var drops = guest.Records("nft-policy").Where(r => r.Num("dport") == 8884).ToList();
        AssertCounts(guest, "nft-policy", (20, drops));
        Assert.All(drops, r =>
        {
            Assert.Equal("nftables-policy", r.Culprit().Str("kind"));
            Assert.Equal("exact", r.Culprit().Str("confidence"));
            Assert.Equal("out", r.Culprit().Str("chain"));
        });
    }

    /// <summary>The module without BTF (as such modules usually come) and with BTF, on every kernel.</summary>
    public static TheoryData<string, string, string> ModuleVariants
    {
        get
        {
            var variants = new TheoryData<string, string, string>();
            foreach (var suite in KernelMatrixResults.Suites)
            {
                variants.Add(suite, "edr-module", "kprobes"); // fexit needs the function's BTF
                variants.Add(suite, "edr-module-btf", suite == "bullseye" ? "kprobes" : "fexit"); // module BTF: 5.11+
            }
            return variants;
        }
    }

    /// <summary>The mission's case: an out-of-tree module's netfilter hooks drop node→pod and pod→node traffic.</summary>
    [Theory, MemberData(nameof(ModuleVariants))]
    public void TheOutOfTreeModulesHookIsNamedExactlyInBothDirections(string suite, string scenario, string observedWith)
    {
        var guest = Completed(suite);
        var records = guest.Records(scenario).Where(r => r.Str("aggregate") is null).ToList(); // aggregates count in Unkept
        // Tier selection on this kernel: verdict observers attached before tracing was announced.
        Assert.Contains($"tier: exact (verdicts of foreign hook functions observed: {observedWith} on 2", guest.Status(scenario).Str("stderr"));
        var nodeToPod = records.Where(r => r.Culprit().Str("function") == "edr_local_out").ToList();
        var podToNode = records.Where(r => r.Culprit().Str("function") == "edr_pre_routing").ToList();
        var reachedThePod = records.Where(r => r.Num("dport") == 8888 && r.Culprit().Str("kind") == "kernel-stack").ToList();

        // threshold=10 per second: of 40 datagrams the last 30 are refused at LOCAL_OUT (the first 10 reach the pod, where
        // no socket takes them); all 10 replies die at PRE_ROUTING.
        Assert.Equal(30, guest.Status(scenario).Num("refused"));
        AssertCounts(guest, scenario, (30, nodeToPod), (10, podToNode), (10, reachedThePod));
        foreach (var (drops, hook, priority) in new[] { (nodeToPod, "OUTPUT", -75), (podToNode, "PREROUTING", -120) })
            Assert.All(drops, r =>
            {
                var culprit = r.Culprit();
                AssertNetfilterDrop(suite, r);
                Assert.Equal("kernel-module", culprit.Str("kind"));
                Assert.Equal("edr_agent", culprit.Str("module"));
                Assert.True(culprit.GetProperty("out_of_tree").GetBoolean());
                Assert.Equal(hook, culprit.Str("hook"));
                Assert.Equal(priority, culprit.Num("priority"));
                Assert.Equal("exact", culprit.Str("confidence"));
                Assert.Contains(culprit.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.EndsWith($"({observedWith})", StringComparison.Ordinal));
            });
    }

    /// <summary>
    /// Whose the module is: matrix.sh signs the EDR stand-in with a key of its own (which the guest's kernel does not
    /// trust: taint E) and installs it under /lib/modules/ABI/extra with its modules.dep line, as a vendor's package
    /// would; the edr-module scenario loads it from there. Its owner is that file, confirmed by srcversion, with the
    /// fields of its .modinfo, the signer of its signature, its taint in words and the out-of-tree sentence.
    /// </summary>
    [Theory, MemberData(nameof(Suites))]
    public void TheOutOfTreeModulesOwnerIsItsInstalledFileWithItsFieldsSignerAndTaint(string suite)
    {
        const string signer = "Example EDR Inc. signing key"; // matrix.sh's signing certificate
        var guest = Completed(suite);
        var path = $"/lib/modules/{guest.Kernel}/extra/edr_agent.ko";
        var owners = ModuleOwners(guest, "edr-module");
        Assert.NotEmpty(owners);
        Assert.All(owners, owner =>
        {
            Assert.Equal("kernel-module", owner.Str("kind"));
            Assert.Equal("edr_agent", owner.Str("name"));
            Assert.Equal("exact", owner.Str("confidence"));
            var module = owner.GetProperty("module");
            Assert.Equal(path, module.Str("path"));
            Assert.Equal("7.1.3", module.Str("version"));
            Assert.Equal("Example EDR Inc. <security@example.com>", module.Str("author"));
            Assert.Equal("Tracer's test stand-in for an EDR agent that drops node<->pod traffic", module.Str("description"));
            Assert.Equal("GPL", module.Str("license"));
            Assert.StartsWith($"{guest.Kernel} SMP ", module.Str("vermagic"));
            Assert.False(string.IsNullOrEmpty(module.Str("srcversion")));
            Assert.Equal(signer, module.Str("signer"));
            Assert.Equal("sha256", module.Str("sig_hashalgo"));
            Assert.Equal(["out-of-tree", "unsigned"], module.GetProperty("taints").EnumerateArray().Select(t => t.GetString()));
            Assert.Contains($"{path} (modules.dep): srcversion {module.Str("srcversion")}, the loaded module's", Evidence(owner));
            Assert.Equal($"a third-party kernel module (edr_agent 7.1.3, signed by {signer}, a key this kernel does not trust), not part of the kernel: {path}",
                         owner.Str("summary"));
        });

        // The BTF build, loaded from /matrix, has the same sources (srcversion) but another version: the installed file is not it.
        var btfOwners = ModuleOwners(guest, "edr-module-btf");
        Assert.NotEmpty(btfOwners);
        Assert.All(btfOwners, owner =>
        {
            var module = owner.GetProperty("module");
            Assert.Null(module.Str("path"));
            Assert.Null(module.Str("signer"));
            Assert.Equal("7.1.3-btf", module.Str("version"));
            Assert.Contains($"{path} (modules.dep): version 7.1.3, the loaded module's 7.1.3-btf: not this file", Evidence(owner));
            Assert.EndsWith($"not part of the kernel; no file under /lib/modules/{guest.Kernel} is the loaded one", owner.Str("summary"));
        });
    }

    private static IEnumerable<string?> Evidence(JsonElement owner) => owner.GetProperty("evidence").EnumerateArray().Select(e => e.GetString());

    private static List<JsonElement> ModuleOwners(GuestResults guest, string scenario) =>
        [.. guest.Records(scenario).Where(r => r.Culprit().Str("kind") == "kernel-module").Select(r => r.Culprit().GetProperty("owner"))];

    /// <summary>
    /// Armed on demand (the default): the module's first drops arm the verdict observers at LOCAL_OUT and are named
    /// from the kernel stack (the only foreign hook there); from then on every drop is observed exactly, as armed always.
    /// </summary>
    [Theory, MemberData(nameof(Suites))]
    public void OnDemandTheModulesFirstDropsArmTheObserversAndTheRestAreExact(string suite)
    {
        var guest = Completed(suite);
        var status = guest.Status("edr-module-on-demand");
        Assert.Contains("tier: on demand", status.Str("stderr"));
        // Refused at LOCAL_OUT (the datagrams under the threshold reach the pod, where no socket takes them: NO_SOCKET).
        bool Refused(JsonElement r) => r.Str("location")!.StartsWith("nf_hook_slow", StringComparison.Ordinal);
        var toThePod = guest.Records("edr-module-on-demand").Where(r => r.Num("dport") == 8888).ToList();
        var drops = toThePod.Where(Refused).ToList();
        var (first, then) = (status.Num("refused"), status.Num("refused_then"));
        var stderr = status.Str("stderr");
        Assert.True(first == 30, $"{suite}: {first} of the first 40 refused, not 30 (threshold 10): {stderr}");
        Assert.True(then is >= 30 and <= 40, $"{suite}: {then} of the second 40 refused: {stderr}");
        AssertCounts(guest, "edr-module-on-demand", (first + then, drops), (80 - first - then, toThePod.Where(r => !Refused(r)).ToList()));
        Assert.All(drops, r =>
        {
            Assert.Equal("kernel-module", r.Culprit().Str("kind"));
            Assert.Equal("edr_agent", r.Culprit().Str("module"));
            Assert.Equal("OUTPUT", r.Culprit().Str("hook"));
        });
        var exact = drops.SkipWhile(r => r.Culprit().Str("confidence") != "exact").ToList();
        // Every drop of the second batch is exact, save those its flow did not keep; at least one is.
        var exactCount = exact.Sum(r => r.Num("count"));
        Assert.True(exactCount >= Math.Max(1, then - guest.Unkept("edr-module-on-demand")) && exactCount <= first + then,
                    $"{suite}: {exactCount} exact of {first + then} drops ({then} after arming, {guest.Unkept("edr-module-on-demand")} unkept): {stderr}");
        Assert.All(exact, r =>
        {
            Assert.Equal("exact", r.Culprit().Str("confidence"));
            Assert.Equal("edr_local_out", r.Culprit().Str("function"));
            Assert.Equal(-75, r.Culprit().Num("priority"));
        });
    }

    /// <summary>The incident with the real out-of-tree module as the culprit: diagnose names the module, its hook and the failed probes.</summary>
    [Theory, MemberData(nameof(Suites))]
    public void DiagnoseNamesTheOutOfTreeModuleThatBlocksThePod(string suite)
    {
        var diagnose = Completed(suite).Diagnose;
        Assert.True(diagnose.Num("exit") == 4, $"{suite}: diagnose exited {diagnose.Num("exit")}: {diagnose.Str("stderr")}");
        var verdict = diagnose.GetProperty("report").GetProperty("verdict");
        Assert.False(verdict.GetProperty("reachable").GetBoolean());
        Assert.Equal("node → pod", verdict.Str("direction"));
        var culprit = verdict.GetProperty("culprit");
        Assert.Contains(culprit.Str("kind"), new[] { "netfilter-hook", "kernel-module" });
        Assert.Equal("edr_agent", culprit.Str("module"));
        Assert.Equal("OUTPUT", culprit.Str("hook"));
        Assert.Equal(-75, culprit.Num("priority"));
        Assert.Contains("edr_agent", verdict.Str("summary"));
        Assert.Contains("pod → node fails", verdict.Str("summary")); // the module blocks the reverse path too
        Assert.Equal(6, verdict.Num("failed_probes")); // three echoes each way
    }

    [Theory, MemberData(nameof(Suites))]
    public void ABpfLsmProgramThatDeniesIsNamed(string suite)
    {
        var guest = Completed(suite);
        var drops = guest.Records("bpf-lsm").Where(r => r.Num("dport") == 8886).ToList();
        AssertCounts(guest, "bpf-lsm", (20, drops));
        Assert.All(drops, r =>
        {
            Assert.Equal("lsm", r.Culprit().Str("kind"));
            Assert.Equal("deny_rcv", r.Culprit().Str("program_name"));
            Assert.Equal("lsm", r.Culprit().Str("attach"));
        });
    }

    /// <summary>
    /// SELinux enforcing (the suite's second boot): a policy denies the pod's socket packets labeled
    /// tracer_blocked_recv_t and the node sending packets labeled tracer_blocked_send_t (guest/selinux_policy.cil).
    /// Both drops are SELinux's, named with the denial the access vector cache audited for them.
    /// </summary>
    [Theory, MemberData(nameof(Suites))]
    public void AnSelinuxDenialIsNamedWithItsContextsClassAndPermission(string suite)
    {
        var guest = Completed(matrix.Selinux(suite));
        var status = guest.Status("selinux");
        Assert.True(status.Str("setup") == "ok", $"{suite}: {status.Str("setup")}");
        Assert.True(status.Num("tracer_exit") == 0, $"{suite}: tracer exited {status.Num("tracer_exit")}: {status.Str("stderr")}");
        Assert.Contains("SELinux denials observed (avc:selinux_audited)", status.Str("stderr"));
        var received = guest.Records("selinux").Where(r => r.Num("dport") == 8883).ToList();
        var sent = guest.Records("selinux").Where(r => r.Num("dport") == 8882).ToList();
        AssertCounts(guest, "selinux", (20, received), (20, sent));
        foreach (var (drops, permission, label) in new[] { (received, "recv", "tracer_blocked_recv_t"), (sent, "send", "tracer_blocked_send_t") })
            Assert.All(drops, r =>
            {
                var culprit = r.Culprit();
                Assert.Equal("lsm", culprit.Str("kind"));
                Assert.Equal("selinux", culprit.Str("lsm"));
                Assert.Equal("exact", culprit.Str("confidence"));
                Assert.Equal("system_u:system_r:node_t:s0", culprit.Str("scontext"));
                Assert.Equal($"system_u:object_r:{label}:s0", culprit.Str("tcontext"));
                Assert.Equal("packet", culprit.Str("tclass"));
                Assert.Equal(permission, culprit.Str("permissions"));
                Assert.Contains($"does not let node_t {permission} a packet labeled {label}", culprit.Str("summary"));
            });
        Assert.All(received, r => Assert.Equal(suite == "bullseye" ? "UNKNOWN" : "SOCKET_FILTER", r.Str("reason")));
        Assert.All(sent, r =>
        {
            AssertNetfilterDrop(suite, r);
            Assert.Equal("POSTROUTING", r.Culprit().Str("hook"));
            Assert.Matches("^selinux_ip(v4)?_postroute$", r.Culprit().Str("function")); // 5.10 has a wrapper per family
        });
    }

    /// <summary>BPF netfilter programs exist from 6.4: trixie runs the host tests' EDR program, older kernels refuse it (and doctor says so).</summary>
    [Theory]
    [InlineData("bullseye", false)]
    [InlineData("bookworm", false)]
    [InlineData("trixie", true)]
    public void ABpfNetfilterProgramIsNamedWhereTheKernelHasThem(string suite, bool kernelHasThem)
    {
        var guest = Completed(suite);
        var status = guest.Status("bpf-netfilter");
        Assert.Equal(kernelHasThem, guest.Doctor.GetProperty("features").GetProperty("netfilter_link").GetProperty("works").GetBoolean());
        if (!kernelHasThem)
        {
            Assert.StartsWith("unsupported", status.Str("setup"));
            return;
        }
        var drops = guest.Records("bpf-netfilter").Where(r => r.Num("dport") == 8885).ToList();
        AssertCounts(guest, "bpf-netfilter", (20, drops));
        Assert.All(drops, r =>
        {
            var culprit = r.Culprit();
            Assert.Equal("bpf-program", culprit.Str("kind"));
            Assert.Equal("edr_drop", culprit.Str("program_name"));
            Assert.Equal("OUTPUT", culprit.Str("hook"));
            Assert.Equal(-75, culprit.Num("priority"));
        });
    }

    [Theory, MemberData(nameof(Suites))]
    public void APlainStackDropIsExplained(string suite)
    {
        var guest = Completed(suite);
        var drops = guest.Records("no-socket").Where(r => r.Num("dport") == 7).ToList();
        AssertCounts(guest, "no-socket", (20, drops));
        Assert.All(drops, r =>
        {
            Assert.Equal("kernel-stack", r.Culprit().Str("kind"));
            Assert.Contains("udp", r.Str("location"), StringComparison.OrdinalIgnoreCase);
        });
    }

    /// <summary>
    /// Counts are exact. A scenario makes the drops of the flows given and no others, so each of them is on its flow's
    /// records or, where the guest's kernel refused the flow a bucket (seen now and then in a 6.1 guest under TCG), on
    /// an aggregate or overflow line (Unkept): the flows' counts and Unkept add up to exactly what the scenario
    /// dropped, and a flow falls short of its own count by no more than went unkept. A refused bucket may take any
    /// share of a flow, so Unkept has no tighter bound; but each flow keeps some of its drops, or the assertions on
    /// its records would hold for nothing.
    /// </summary>
    private static void AssertCounts(GuestResults guest, string scenario, params (long Expected, List<JsonElement> Drops)[] flows)
    {
        foreach (var (expected, drops) in flows)
            Assert.InRange(drops.Sum(r => r.Num("count")), 1, expected);
        Assert.Equal(flows.Sum(f => f.Expected), flows.Sum(f => f.Drops.Sum(r => r.Num("count"))) + guest.Unkept(scenario));
    }

    /// <summary>NETFILTER_DROP, or on 5.10 (no reasons in kfree_skb) UNKNOWN with NETFILTER_DROP implied by the location.</summary>
    private static void AssertNetfilterDrop(string suite, JsonElement record)
    {
        if (suite != "bullseye")
        {
            Assert.Equal("NETFILTER_DROP", record.Str("reason"));
            return;
        }
        Assert.Equal("UNKNOWN", record.Str("reason"));
        Assert.Contains(record.Culprit().GetProperty("evidence").EnumerateArray(),
                        e => e.GetString() == "this kernel reports no drop reasons: NETFILTER_DROP implied by the location");
    }

    private GuestResults Completed(string suite) => Completed(matrix[suite]);

    private static GuestResults Completed(GuestResults guest)
    {
        Assert.True(guest.Outcome == "completed",
            $"{guest.Suite} ({guest.Kernel}): {guest.Outcome}; console: {guest.Directory}/console.log");
        return guest;
    }
}
